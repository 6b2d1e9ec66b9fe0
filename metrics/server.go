package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/xstack/xstack/statedump"
)

// Path is where a Server serves the metrics.
const Path = "/metrics"

// Server serves one stack's metrics over HTTP at Path.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Registry returns a Prometheus registry holding a Collector of d and the
// Go runtime's and the process's collectors: what a Server serves, for an
// embedder that serves metrics its own way.
func Registry(d *statedump.Dumper) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(d, 0),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Listen starts serving d's metrics on addr (HOST:PORT; port 0 picks a
// free one, see Addr). The caller must Close the Server.
func Listen(addr string, d *statedump.Dumper, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (set another address in the metrics block or --metrics-addr)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(Registry(d), promhttp.HandlerOpts{
		ErrorLog:            zap.NewStdLog(log),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4, // scrapes beyond these wait in the client's retry, not here
		Timeout:             30 * time.Second,
	}))
	s := &Server{ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log)}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: serving stopped", zap.Error(err))
		}
	}()
	log.Info("serving metrics", zap.String("url", "http://"+ln.Addr().String()+Path))
	return s, nil
}

// Addr returns the address the Server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the metrics' URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + Path }

// Close stops serving: scrapes in progress are cut off.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Serve serves d's metrics on addr until ctx ends.
func Serve(ctx context.Context, addr string, d *statedump.Dumper, log *zap.Logger) error {
	s, err := Listen(addr, d, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}
