package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"pylon.io/pylon/internal/discovery"
)

// errClosed is what a Watch returns when Close ends it.
var errClosed = errors.New("zookeeper: provider closed")

// maxPacket bounds one answer from the server: a list of MaxInstances
// provider URLs of a few KiB each fits, a runaway one does not (the client
// then drops the connection instead of allocating without limit).
const maxPacket = 64 << 20

// connectWait bounds how long Resolve waits for a session, so a poll of
// an unreachable ensemble fails fast instead of taking the caller's whole
// deadline.
const connectWait = 3 * time.Second

type provider struct {
	cfg     Config
	log     *slog.Logger
	client  *clientLog
	conn    *zk.Conn
	servers string // for errors: "zk-1:2181, zk-2:2181"
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	state   zk.State
	authed  bool          // the digest auth was accepted, or none is configured
	changed chan struct{} // closed and replaced when state or authed changes
	subs    map[*watcher]struct{}
}

var _ discovery.Provider = (*provider)(nil)

// New returns a provider for c, which must have passed Validate, and
// starts connecting. An ensemble that cannot be reached does not fail New:
// the client keeps trying its servers in turn.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("zookeeper"); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c = c.withDefaults()
	log = log.With("component", "discovery/zookeeper")
	ctx, cancel := context.WithCancel(context.Background())
	p := &provider{cfg: c, log: log, client: &clientLog{log: log, secret: c.Auth},
		servers: strings.Join(c.Servers, ", "), ctx: ctx, cancel: cancel,
		state: zk.StateDisconnected, authed: c.Auth == "", changed: make(chan struct{}), subs: map[*watcher]struct{}{}}
	conn, _, err := zk.Connect(c.Servers, c.SessionTimeout.D(),
		zk.WithHostProvider(&hostList{}), zk.WithLogger(p.client),
		zk.WithEventCallback(p.onEvent), zk.WithMaxBufferSize(maxPacket))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("zookeeper: %w", err)
	}
	p.conn = conn
	if c.Auth != "" {
		go p.authenticate()
	}
	return p, nil
}

// Close ends every watch and the session.
func (p *provider) Close() error {
	p.cancel()
	p.conn.Close()
	return nil
}

// onEvent is the client's event callback, called on its connection's
// goroutines: it must not block and must not call into the client.
// Session events wake every watch; node events go to the watches whose
// service node they concern.
func (p *provider) onEvent(ev zk.Event) {
	if ev.Type == zk.EventSession {
		p.setState(ev.State, ev.Server)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.subs {
		if w.concerns(ev.Path) {
			w.push(ev)
		}
	}
}

func (p *provider) setState(s zk.State, server string) {
	p.mu.Lock()
	old := p.state
	p.state = s
	p.bumpLocked()
	p.mu.Unlock()
	switch {
	case s == zk.StateHasSession:
		p.client.clear()
		p.log.Info("zookeeper: session established", "server", server)
	case s == zk.StateExpired:
		p.log.Warn("zookeeper: session expired; the watches are set again in a new session", "server", server)
	case s == zk.StateAuthFailed:
		p.log.Error("zookeeper: the server refused the authentication", "server", server)
	case old == zk.StateHasSession:
		p.log.Warn("zookeeper: connection lost; reconnecting", "server", server, "state", s.String())
	}
}

// bumpLocked wakes whoever waits on the state and every watch.
func (p *provider) bumpLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
	for w := range p.subs {
		w.wake()
	}
}

// readiness reports whether requests can be sent (a session, and the
// digest auth accepted), and a channel closed at the next change.
func (p *provider) readiness() (bool, zk.State, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == zk.StateHasSession && p.authed, p.state, p.changed
}

// waitReady waits until requests can be sent, ctx ends or p closes.
func (p *provider) waitReady(ctx context.Context) error {
	for {
		ok, st, changed := p.readiness()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-p.ctx.Done():
			return errClosed
		case <-ctx.Done():
			why := st.String()
			if last := p.client.lastError(); last != "" {
				why += "; last: " + last
			}
			return fmt.Errorf("zookeeper: no session with %s (%s): %w", p.servers, why, ctx.Err())
		}
	}
}

// authenticate adds the digest auth once a session is up, retrying at
// each new session until the server takes it. The client sends it again
// by itself after a reconnect.
func (p *provider) authenticate() {
	for {
		ok, changed := p.hasSession()
		if ok {
			err := p.conn.AddAuth("digest", []byte(p.cfg.Auth))
			if err == nil {
				p.mu.Lock()
				p.authed = true
				p.bumpLocked()
				p.mu.Unlock()
				return
			}
			p.log.Warn("zookeeper: adding the digest auth failed; retrying", "error", p.client.redact(err.Error()))
		}
		select {
		case <-p.ctx.Done():
			return
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

func (p *provider) hasSession() (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == zk.StateHasSession, p.changed
}

// Resolve reads q's instances once, without watches.
func (p *provider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	if err := checkQuery(q); err != nil {
		return discovery.Set{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, connectWait)
	err := p.waitReady(wctx)
	cancel()
	if err != nil {
		return discovery.Set{}, err
	}
	// The client's calls take no context; they end when the server answers
	// or the connection is given up (two thirds of the session timeout).
	type result struct {
		set discovery.Set
		err error
	}
	done := make(chan result, 1)
	go func() {
		set, err := p.read(q)
		done <- result{set, err}
	}()
	select {
	case r := <-done:
		return r.set, r.err
	case <-ctx.Done():
		return discovery.Set{}, fmt.Errorf("zookeeper: reading %s: %w", p.cfg.servicePath(q), ctx.Err())
	}
}

// read lists and decodes q's instances once.
func (p *provider) read(q discovery.Query) (discovery.Set, error) {
	base := p.cfg.servicePath(q)
	names, _, err := p.conn.Children(base)
	if errors.Is(err, zk.ErrNoNode) {
		return discovery.Set{}, nil
	}
	if err != nil {
		return discovery.Set{}, p.wrap(base, err)
	}
	if err := overBound(base, len(names)); err != nil {
		return discovery.Set{}, err
	}
	recs := make([]record, 0, len(names))
	for _, name := range names {
		var r record
		if q.Layout == LayoutDubbo {
			r, err = decodeDubbo(name)
		} else {
			data, _, gerr := p.conn.Get(base + "/" + name)
			if errors.Is(gerr, zk.ErrNoNode) {
				continue
			}
			if gerr != nil {
				return discovery.Set{}, p.wrap(base+"/"+name, gerr)
			}
			r, err = decodeCurator(name, data)
		}
		if err == nil {
			recs = append(recs, r)
		}
	}
	set, _ := p.cfg.toSet(q.Layout, recs)
	return set, nil
}

func overBound(base string, n int) error {
	if n > discovery.MaxInstances {
		return fmt.Errorf("zookeeper: %s has %d children, more than the bound of %d instances", base, n, discovery.MaxInstances)
	}
	return nil
}

func (p *provider) wrap(path string, err error) error {
	return fmt.Errorf("zookeeper: %s (servers %s): %w", path, p.servers, err)
}

// hostList is the client's list of servers, tried in turn. Unlike the
// client's default, which resolves every name once when it starts (and
// fails when one does not resolve then), it leaves names to each dial, so
// an ensemble whose members change addresses is followed.
type hostList struct {
	mu      sync.Mutex
	servers []string
	cur     int // the server handed out last
	mark    int // where the current round of tries started
}

func (h *hostList) Init(servers []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.servers, h.cur, h.mark = servers, -1, -1
	return nil
}

func (h *hostList) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

// Next returns the next server, and true when every server has been
// tried since the last connection (the client then waits a second).
func (h *hostList) Next() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = (h.cur + 1) % len(h.servers)
	round := h.cur == h.mark
	if h.mark < 0 {
		h.mark = h.cur
	}
	return h.servers[h.cur], round
}

func (h *hostList) Connected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mark = h.cur
}

// clientLog takes the client library's log lines (its default logger
// writes them to the process's standard logger) into slog at debug level,
// with the auth value masked should a line ever carry it. It keeps the
// last connection failure for Resolve's error.
type clientLog struct {
	log    *slog.Logger
	secret string

	mu   sync.Mutex
	last string
}

func (l *clientLog) Printf(format string, args ...any) {
	msg := l.redact(fmt.Sprintf(format, args...))
	if strings.HasPrefix(msg, "failed to connect to ") {
		l.mu.Lock()
		l.last = msg
		l.mu.Unlock()
	}
	l.log.Debug("zookeeper: client", "message", msg)
}

func (l *clientLog) redact(s string) string {
	if l.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, l.secret, "[auth]")
}

func (l *clientLog) clear() {
	l.mu.Lock()
	l.last = ""
	l.mu.Unlock()
}

func (l *clientLog) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
