// Package etcd is the cluster store: objects live in etcd under
// <prefix>/objects/<kind>/<namespace>/<name>, an object's revision is its
// etcd ModRevision, and watches resume by revision across disconnects.
package etcd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"pylon.io/pylon/internal/store"
)

// Option changes how Open connects.
type Option func(*options)

type options struct {
	dialTimeout    time.Duration
	requestTimeout time.Duration
	healthInterval time.Duration
	lazy           bool
}

// WithDialTimeout bounds the first connection (default two seconds).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithRequestTimeout bounds a Commit, Get or List whose context has no
// deadline, so a write fails instead of waiting for etcd to come back
// (default five seconds).
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// WithHealthInterval sets how often the store checks that etcd answers
// (default one second).
func WithHealthInterval(d time.Duration) Option { return func(o *options) { o.healthInterval = d } }

// WithoutFirstContact lets Open succeed while etcd is unreachable: the
// store starts not synced and connects by itself. For a node that can serve
// a local copy meanwhile.
func WithoutFirstContact() Option { return func(o *options) { o.lazy = true } }

// Store is a store.Store in etcd.
type Store struct {
	cli       *clientv3.Client
	endpoints []string
	prefix    string // without a trailing '/'
	opts      options

	mu     sync.Mutex
	status store.Status

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open connects to etcd at endpoints and keeps the objects under prefix. It
// fails only when the first connection cannot be made within the dial
// timeout; later outages show in Status and the store recovers by itself.
func Open(ctx context.Context, endpoints []string, prefix string, opts ...Option) (*Store, error) {
	o := options{dialTimeout: 2 * time.Second, requestTimeout: 5 * time.Second, healthInterval: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return nil, fmt.Errorf("store: etcd: empty key prefix")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          o.dialTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
		// Reconnect within ~2 s of etcd's return whatever the outage's
		// length (gRPC's default backoff grows to two minutes).
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})},
		Context: context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("store: etcd %v: %w", endpoints, err)
	}
	status := store.Status{Synced: true}
	if o.lazy {
		status = store.Status{Error: "connecting"}
	} else {
		c, cancel := context.WithTimeout(ctx, o.dialTimeout)
		defer cancel()
		if _, err := cli.Get(c, prefix+"/objects/", clientv3.WithCountOnly()); err != nil {
			cli.Close()
			return nil, fmt.Errorf("store: etcd %v is unreachable: %w", endpoints, err)
		}
	}
	bg, stop := context.WithCancel(context.Background())
	s := &Store{cli: cli, endpoints: endpoints, prefix: prefix, opts: o, cancel: stop, status: status}
	s.wg.Go(func() { s.checkHealth(bg) })
	return s, nil
}

// Client returns the etcd client, to share its connection (with
// cluster.Register, for one). It is closed by Close.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Status says whether etcd answered the last health check and the last
// revision a watch delivered.
func (s *Store) Status() store.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Close stops the watches and closes the client.
func (s *Store) Close() error {
	s.cancel()
	err := s.cli.Close()
	s.wg.Wait()
	if err != nil && err != context.Canceled {
		return fmt.Errorf("store: etcd close: %w", err)
	}
	return nil
}

// checkHealth asks etcd for a cheap, linearizable read every interval, so
// an outage shows in Status even when no watch notices it.
func (s *Store) checkHealth(ctx context.Context) {
	t := time.NewTicker(s.opts.healthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, cancel := context.WithTimeout(ctx, min(s.opts.healthInterval, time.Second))
		_, err := s.cli.Get(c, s.prefix+"/objects/", clientv3.WithCountOnly())
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.setHealth(err)
	}
}

func (s *Store) setHealth(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.status.Synced = false
		s.status.Error = fmt.Sprintf("store: etcd %v is unreachable: %v", s.endpoints, err)
		return
	}
	s.status.Synced, s.status.Error = true, ""
}

// seen records a revision a watch delivered.
func (s *Store) seen(rev int64) {
	s.mu.Lock()
	s.status.Revision = max(s.status.Revision, rev)
	s.mu.Unlock()
}

// reqCtx applies the request timeout when ctx has no deadline.
func (s *Store) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	// The tighter of the caller's deadline and the store's own: a write must
	// fail fast while etcd is away, whatever the caller allows.
	return context.WithTimeout(ctx, s.opts.requestTimeout)
}

// unreachable wraps err from etcd so it says what was being done and, when
// the health check knows, that etcd is away.
func (s *Store) wrap(what string, err error) error {
	if st := s.Status(); !st.Synced {
		return fmt.Errorf("store: %s: etcd %v is unreachable: %w", what, s.endpoints, err)
	}
	return fmt.Errorf("store: %s: etcd %v: %w", what, s.endpoints, err)
}
