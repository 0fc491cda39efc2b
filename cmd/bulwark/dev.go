package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	fakellm "github.com/bulwarkhq/bulwark/fake/llm"
	"github.com/spf13/cobra"
)

func newDevCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Developer tools",
	}
	cmd.AddCommand(newDevFakeLLMCmd(), newDevEmitAlertCmd())
	return cmd
}

type fakeLLMOptions struct {
	addr    string
	verbose bool
	llm     fakellm.Options
}

func newDevFakeLLMCmd() *cobra.Command {
	o := &fakeLLMOptions{}
	cmd := &cobra.Command{
		Use:   "fake-llm",
		Short: "Serve a fake OpenAI/Anthropic upstream for demos and tests",
		Long: `Serve a fake LLM upstream that speaks the OpenAI (Chat Completions,
Responses, Models), Azure OpenAI and Anthropic Messages wire formats, plain and
streamed. By default it answers "echo: " followed by the last user message.

Request headers steer single requests: X-Fake-Reply, X-Fake-Chunks,
X-Fake-Delay-Ms, X-Fake-Cached-Tokens and X-Fake-Error (429, 500, 400, garbage,
hang, midstream, slow-headers:<ms>). See docs/operations.md.

It serves until SIGINT or SIGTERM.`,
		Example: `  bulwark dev fake-llm
  bulwark dev fake-llm --addr 127.0.0.1:9999 --api-key sk-test --chunk-delay 50ms`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runFakeLLM(ctx, o, cmd.OutOrStdout(), cmd.ErrOrStderr(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:9999", "address to listen on")
	f.StringVar(&o.llm.APIKey, "api-key", "", "require this key (Authorization: Bearer, api-key or x-api-key, as each provider does)")
	f.IntVar(&o.llm.Chunks, "chunks", 8, "deltas a streamed reply is split into")
	f.DurationVar(&o.llm.ChunkDelay, "chunk-delay", 0, "delay between stream events, e.g. 50ms")
	f.StringVar(&o.llm.Reply, "reply", "", "fixed reply text (default: echo the last user message)")
	f.StringSliceVar(&o.llm.Models, "models", nil, "accept and list only these models (default: any)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every request to stderr")
	return cmd
}

func (o *fakeLLMOptions) validate() error {
	switch {
	case o.addr == "":
		return usageErr("--addr must not be empty")
	case o.llm.Chunks < 1:
		return usageErr("--chunks must be at least 1, got %d", o.llm.Chunks)
	case o.llm.ChunkDelay < 0:
		return usageErr("--chunk-delay must not be negative, got %s", o.llm.ChunkDelay)
	}
	return nil
}

// runFakeLLM serves until ctx ends. ready, when not nil, receives the bound
// address once the listener is up (tests).
func runFakeLLM(ctx context.Context, o *fakeLLMOptions, out, logOut io.Writer, ready chan<- string) error {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	opts := o.llm
	opts.Logger = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.addr, err)
	}
	defer ln.Close()
	srv := &http.Server{
		Handler:           fakellm.New(opts),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	url := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(out, "fake LLM upstream listening on %s\n", url)
	fmt.Fprintf(out, "  OpenAI base URL:    %s/v1\n", url)
	fmt.Fprintf(out, "  Anthropic base URL: %s\n", url)
	fmt.Fprintf(out, "  Azure endpoint:     %s (deployments/{name}/chat/completions?api-version=…)\n", url+"/openai")
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Hanging requests (X-Fake-Error: hang) never finish on their own, so
	// the grace period is short and whatever remains is cut off.
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	srv.Close()
	return nil
}
