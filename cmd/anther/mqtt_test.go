package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestEmbeddedBrokerPortTaken: when the configured port is taken, the
// embedded broker says so and listens on a free one.
func TestEmbeddedBrokerPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	var logs captured
	b, err := startEmbeddedBroker(context.Background(), port, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, p, _ := net.SplitHostPort(b.Addr())
	if p == strconv.Itoa(port) || p == "0" {
		t.Errorf("broker on %s, want a free port other than %d", b.Addr(), port)
	}
	if !logs.contains("is taken") {
		t.Errorf("no warning about the taken port in %q", logs.String())
	}
}

func TestMQTTFlags(t *testing.T) {
	t.Setenv("ANTHER_MQTT", "")
	var o mqttOpts
	f := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.SetOutput(io.Discard)
	registerMQTTFlags(f, &o)
	if err := f.Parse([]string{"--mqtt", "ssl://broker:8883", "--robot-id", "arm-1", "--mqtt-user", "u",
		"--mqtt-password-file", "/p", "--mqtt-ca", "ca.pem", "--mqtt-cert", "c.pem", "--mqtt-key", "c.key",
		"--remote-control", "--mqtt-port", "1884", "--mqtt-state-rate", "25"}); err != nil {
		t.Fatal(err)
	}
	want := mqttOpts{url: "ssl://broker:8883", robotID: "arm-1", user: "u", passwordFile: "/p", ca: "ca.pem",
		cert: "c.pem", key: "c.key", remoteControl: true, port: 1884, stateRate: 25}
	if o != want {
		t.Errorf("parsed %+v, want %+v", o, want)
	}
	var d mqttOpts
	g := pflag.NewFlagSet("run", pflag.ContinueOnError)
	registerMQTTFlags(g, &d)
	if d.url != "" || d.port != 1883 || d.stateRate != 50 || d.remoteControl {
		t.Errorf("defaults %+v", d)
	}
}

type captured struct{ b []byte }

func (c *captured) Write(p []byte) (int, error) { c.b = append(c.b, p...); return len(p), nil }
func (c *captured) String() string              { return string(c.b) }
func (c *captured) contains(s string) bool      { return strings.Contains(c.String(), s) }
