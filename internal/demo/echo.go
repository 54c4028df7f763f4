// Package demo runs the tiny echo backends behind the bundled example, so a
// first `pylon run` has something to proxy to.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"
)

// Echo answers every request with JSON describing it and the backend's name.
func Echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := map[string]string{}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			headers[k] = r.Header.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"backend": name, "method": r.Method, "host": r.Host, "path": r.URL.Path,
			"query": r.URL.RawQuery, "protocol": r.Proto, "headers": headers,
		})
	})
}

// Serve runs echo backends on addrs until ctx ends.
func Serve(ctx context.Context, log *slog.Logger, addrs ...string) error {
	var servers []*http.Server
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return err
		}
		s := &http.Server{Handler: Echo(a), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("demo backend stopped", "address", a, "error", err)
			}
		}()
		log.Info("demo echo backend listening", "address", a)
	}
	go func() {
		<-ctx.Done()
		for _, s := range servers {
			s.Close()
		}
	}()
	return nil
}
