package nacostest

import (
	"encoding/json"
	"strconv"
	"time"

	nacosgrpc "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_request"
)

// Pushes: when a service changes, each connection subscribed to it gets a
// NotifySubscriberRequest on its bi-stream with the service as that
// subscription sees it (its clusters). Changes that come faster than the
// stream takes them merge into one push of the newest state. A push the
// client has not acknowledged (NotifySubscriberResponse with the push's
// requestId) within ackTimeout is sent again with the newest state.

const ackTimeout = time.Second

// conn is one client connection, known from its ConnectionSetupRequest.
type conn struct {
	id        string
	stream    nacosgrpc.BiRequestStream_RequestBiStreamServer
	subs      map[string]subscription
	published map[string][]string  // service key -> instance IDs it registered
	dirty     map[string]bool      // subscriptions to push
	unacked   map[string]unackedAt // push requestId -> what it was for
	wake      chan struct{}
	done      chan struct{}
}

type unackedAt struct {
	sub  string
	sent time.Time
}

type subscription struct {
	key                       string // the service's registry key
	ns, group, name, clusters string
}

func newSubscription(ns, group, name, clusters string) subscription {
	k, _ := serviceKey(ns, group, name)
	if group == "" {
		group = "DEFAULT_GROUP"
	}
	return subscription{key: k, ns: ns, group: group, name: name, clusters: clusters}
}

func (s subscription) id() string { return s.key + "\x00" + s.clusters }

// changed marks every subscription to service k for a push; the caller
// holds s.mu.
func (s *Server) changed(k string) {
	for _, c := range s.conns {
		for id, sub := range c.subs {
			if sub.key == k {
				c.dirty[id] = true
				select {
				case c.wake <- struct{}{}:
				default:
				}
			}
		}
	}
}

// RequestBiStream serves one client's bi-stream: its ConnectionSetupRequest
// registers the connection, and acks of pushes come back on it. When the
// stream ends, so does the connection and what it published.
func (g streamServer) RequestBiStream(stream nacosgrpc.BiRequestStream_RequestBiStreamServer) error {
	s, from := g.s, peerOf(stream.Context())
	var c *conn
	writerDone := make(chan struct{})
	defer func() {
		if c == nil {
			return
		}
		close(c.done)
		<-writerDone
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.conns[from] == c {
			delete(s.conns, from)
		}
		for k := range c.published {
			s.unpublish(c, k)
			s.changed(k)
		}
	}()
	for {
		p, err := stream.Recv()
		if err != nil {
			return nil
		}
		switch p.GetMetadata().GetType() {
		case "ConnectionSetupRequest":
			if c != nil {
				continue
			}
			c = &conn{id: from, stream: stream, subs: map[string]subscription{}, published: map[string][]string{},
				dirty: map[string]bool{}, unacked: map[string]unackedAt{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
			s.mu.Lock()
			s.conns[from] = c
			s.mu.Unlock()
			go func() { defer close(writerDone); s.pushLoop(c) }()
		case "NotifySubscriberResponse":
			var ack struct {
				RequestID string `json:"requestId"`
				Success   bool   `json:"success"`
			}
			if c == nil || json.Unmarshal(p.GetBody().GetValue(), &ack) != nil || !ack.Success {
				continue
			}
			s.mu.Lock()
			if _, ok := c.unacked[ack.RequestID]; ok {
				delete(c.unacked, ack.RequestID)
				s.acks++
			}
			s.mu.Unlock()
		}
	}
}

// pushLoop is the only sender on c's stream.
func (s *Server) pushLoop(c *conn) {
	tick := time.NewTicker(ackTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		case <-tick.C:
		}
		var out []*nacosgrpc.Payload
		s.mu.Lock()
		now := time.Now()
		for id, u := range c.unacked {
			if now.Sub(u.sent) > ackTimeout {
				delete(c.unacked, id)
				if _, ok := c.subs[u.sub]; ok {
					c.dirty[u.sub] = true
				}
			}
		}
		for id := range c.dirty {
			delete(c.dirty, id)
			sub, ok := c.subs[id]
			if !ok {
				continue
			}
			s.pushes++
			reqID := "push-" + strconv.Itoa(s.pushes)
			req := rpc_request.NotifySubscriberRequest{
				NamingRequest: &rpc_request.NamingRequest{Request: &rpc_request.Request{RequestId: reqID},
					Namespace: sub.ns, ServiceName: sub.name, GroupName: sub.group, Module: "naming"},
				ServiceInfo: s.serviceInfo(sub, false),
			}
			c.unacked[reqID] = unackedAt{sub: id, sent: now}
			out = append(out, payload(req.GetRequestType(), req))
		}
		s.mu.Unlock()
		for _, p := range out {
			if err := c.stream.Send(p); err != nil {
				return
			}
		}
	}
}
