package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anther-robotics/anther/teleop"
)

// daemonFlags are how CLI commands reach a running daemon.
type daemonFlags struct {
	addr string
}

func (f *daemonFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8080", "address of the running daemon's HTTP API")
}

// post sends a JSON POST to the daemon and decodes the JSON reply into out.
func (f *daemonFlags) post(ctx context.Context, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.addr+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok, _, err := teleop.LoadToken(false); err == nil {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("daemon at %s: %w", f.addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("daemon: %s (%s)", e.Error, resp.Status)
		}
		return fmt.Errorf("daemon: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (a *app) estopCmd() *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "estop [--addr HOST:PORT]",
		Short: "emergency stop a running daemon: torque off at its next tick",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out map[string]string
			if err := f.post(cmd.Context(), "/api/estop", nil, &out); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "lifecycle:", out["lifecycle"])
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) lifecycleCmd(verb, short string) *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   verb + " [--addr HOST:PORT]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out map[string]string
			if err := f.post(cmd.Context(), "/api/lifecycle/"+verb, nil, &out); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "lifecycle:", out["lifecycle"])
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) tokenCmd() *cobra.Command {
	var rotate bool
	var addr string
	cmd := &cobra.Command{
		Use:   "token [--rotate]",
		Short: "print the API token and the console login URL (or make a new token)",
		Long: `The daemon's HTTP API needs "Authorization: Bearer TOKEN" (or the cookie set by
opening http://ADDR/?token=TOKEN). The token is $ANTHER_TOKEN if set, else the
content of $XDG_CONFIG_HOME/anther/token (mode 0600), created on the first run.
--rotate writes a new one; restart the daemon to use it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var tok string
			var err error
			if rotate {
				tok, err = teleop.RotateToken()
			} else {
				tok, _, err = teleop.LoadToken(false)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, tok)
			fmt.Fprintf(a.stdout, "console: http://%s/?token=%s\n", addr, tok)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "write a new token")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "daemon address for the printed URL")
	return cmd
}
