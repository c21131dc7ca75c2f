package telemetry

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	Addr   string            // listen address, e.g. 127.0.0.1:1883 (port 0 picks a free one)
	TLS    *tls.Config       // serve MQTT over TLS (ssl://) instead of plain TCP
	Users  map[string]string // username → password; nil allows anonymous clients
	Logger *slog.Logger      // the broker logs warnings and errors only
}

// Broker is an embedded MQTT 3.1.1/5 broker (mochi-mqtt) for a robot that
// has no broker of its own: `anther run` without --mqtt starts one on
// loopback so the bridge and local tools have somewhere to talk. It keeps
// retained messages and sessions in memory only.
type Broker struct {
	srv    *mochi.Server
	addr   string
	scheme string
	once   sync.Once
	done   chan struct{}
}

// ErrAddrInUse is wrapped by StartBroker's error when the port is taken.
var ErrAddrInUse = errors.New("telemetry: address in use")

// StartBroker listens on cfg.Addr and serves MQTT until Close or until ctx
// ends. When the port is taken the error wraps ErrAddrInUse.
func StartBroker(ctx context.Context, cfg BrokerConfig) (*Broker, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("telemetry: broker on %s: %w: %w", cfg.Addr, ErrAddrInUse, err)
		}
		return nil, fmt.Errorf("telemetry: broker on %s: %w", cfg.Addr, err)
	}
	scheme := "tcp"
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
		scheme = "ssl"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := mochi.New(&mochi.Options{
		Logger:                 slog.New(minLevel{log.Handler(), slog.LevelWarn}),
		SysTopicResendInterval: 3600,
	})
	if err := srv.AddHook(&authHook{users: cfg.Users}, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("telemetry: broker auth: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet("anther", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("telemetry: broker listener: %w", err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("telemetry: broker: %w", err)
	}
	b := &Broker{srv: srv, addr: ln.Addr().String(), scheme: scheme, done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			b.Close()
		case <-b.done:
		}
	}()
	return b, nil
}

// Addr is the address the broker listens on (host:port).
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's URL for clients: tcp://HOST:PORT (ssl:// with TLS).
func (b *Broker) URL() string { return b.scheme + "://" + b.addr }

// Close disconnects every client and stops listening. Idempotent.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() {
		close(b.done)
		err = b.srv.Close()
	})
	return err
}

// authHook lets in every client when users is nil, else those whose
// username and password match; it gives them every topic (the embedded
// broker serves one robot on loopback).
type authHook struct {
	mochi.HookBase
	users map[string]string
}

func (h *authHook) ID() string { return "anther-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(_ *mochi.Client, pk packets.Packet) bool {
	if h.users == nil {
		return true
	}
	want, ok := h.users[string(pk.Connect.Username)]
	return ok && subtle.ConstantTimeCompare([]byte(want), pk.Connect.Password) == 1
}

func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// minLevel is a slog.Handler that drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
