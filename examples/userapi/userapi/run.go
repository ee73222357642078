package userapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
)

// RunOptions configure Run.
type RunOptions struct {
	// Sync is the sync job's function; nil runs no job.
	Sync users.SyncFunc
	// SyncEvery is the time between two passes of the job. Zero means a
	// minute.
	SyncEvery time.Duration
	// SyncPause is the time between two users within a pass.
	SyncPause time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish once ctx ends. Zero means 10 seconds.
	ShutdownTimeout time.Duration
	// Handler configures the HTTP API.
	Handler HandlerOptions
	// Logger receives the service's own messages. Nil means slog.Default().
	Logger *slog.Logger
}

// Run serves the API on ln and runs the sync job until ctx ends, then shuts
// down in order: the job stops, the HTTP server stops accepting and waits
// up to ShutdownTimeout for in-flight requests, and the pool is closed
// (Run owns it from now on). It returns nil after a clean shutdown.
func Run(ctx context.Context, ln net.Listener, pool *poolguard.Pool, opts RunOptions) error {
	defer pool.Close()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Handler.Logger == nil {
		opts.Handler.Logger = log
	}
	if opts.SyncEvery == 0 {
		opts.SyncEvery = time.Minute
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}

	jobCtx, stopJob := context.WithCancel(ctx)
	defer stopJob()
	var job sync.WaitGroup
	if opts.Sync != nil {
		j := &users.Job{DB: pool.Partition(users.PartitionSync), Sync: opts.Sync, Logger: log, Pause: opts.SyncPause}
		job.Go(func() { j.Run(jobCtx, opts.SyncEvery) }) //nolint:errcheck // Run returns nil when ctx ends
	}

	srv := &http.Server{
		Handler:           Handler(pool, opts.Handler),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("userapi: serving", "addr", ln.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	log.Info("userapi: shutting down")
	stopJob()
	job.Wait()

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = fmt.Errorf("userapi: shutting down the HTTP server: %w", err)
		srv.Close()
	}
	if serveErr == nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, err)
}
