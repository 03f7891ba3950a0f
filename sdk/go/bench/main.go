// Command bench measures round-trip latency and throughput of chat calls through the Outrigger
// sidecar with the Go SDK (FlatBuffers over the Unix socket), and, in the same run, the same
// mock provider through the sidecar's OpenAI-compatible HTTP/JSON front with net/http.
//
//	go run ./bench                               # sidecar at $OUTRIGGER_SOCKET or the default
//	go run ./bench -spawn /path/to/outrigger     # start a private daemon on a temp socket
//	go run ./bench -http-url http://127.0.0.1:8080/v1 -n 5000 -concurrency 64
//
// The HTTP half is skipped, with a message, when the URL does not answer. Absolute figures
// vary a lot between machines and runs; compare the two halves of one run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	outrigger "github.com/outrigger-dev/outrigger/sdk/go"
)

type config struct {
	socket      string
	spawn       string
	httpURL     string
	model       string
	n           int
	warmup      int
	concurrency int
	duration    time.Duration
	size        int
	daemonLog   bool
}

// caller performs one complete chat call and checks the answer.
type caller func(ctx context.Context, prompt string) error

type result struct {
	name       string
	p50, p99   time.Duration
	mean       time.Duration
	throughput float64
	errors     int64
}

func main() {
	var cfg config
	flag.StringVar(&cfg.socket, "socket", "", "sidecar socket (default: $OUTRIGGER_SOCKET, then "+outrigger.DefaultSocketPath+")")
	flag.StringVar(&cfg.spawn, "spawn", os.Getenv("OUTRIGGER_BIN"), "daemon binary to start on a temp socket (default: $OUTRIGGER_BIN; empty: use a running sidecar)")
	flag.StringVar(&cfg.httpURL, "http-url", envOr("OUTRIGGER_HTTP_URL", "http://127.0.0.1:8080/v1"), "base URL of the sidecar's OpenAI-compatible HTTP front")
	flag.StringVar(&cfg.model, "model", "mock-1", "model (route) to call")
	flag.IntVar(&cfg.n, "n", 2000, "sequential calls for the latency figures")
	flag.IntVar(&cfg.warmup, "warmup", 200, "calls before measuring")
	flag.IntVar(&cfg.concurrency, "concurrency", 32, "calls in flight for the throughput figure")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of the throughput phase")
	flag.IntVar(&cfg.size, "size", 64, "prompt size in bytes")
	flag.BoolVar(&cfg.daemonLog, "daemon-log", false, "show the log of a daemon started with -spawn")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(cfg config) error {
	if cfg.spawn != "" && cfg.socket == "" {
		sock, stop, err := spawnDaemon(cfg.spawn, cfg.daemonLog)
		if err != nil {
			return err
		}
		defer stop()
		cfg.socket = sock
	}
	var opts []outrigger.Option
	if cfg.socket != "" {
		opts = append(opts, outrigger.WithSocketPath(cfg.socket))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	client, err := outrigger.Dial(ctx, opts...)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach the sidecar: %w", err)
	}
	defer client.Close()

	prompt := strings.Repeat("lorem ipsum ", cfg.size/12+1)[:cfg.size]
	fmt.Printf("Outrigger Go SDK benchmark: model %q, %d-byte prompt, %d sequential calls, %d in flight for %v\n",
		cfg.model, cfg.size, cfg.n, cfg.concurrency, cfg.duration)
	fmt.Printf("sidecar socket: %s\n\n", client.SocketPath())

	sdk := measure("sdk (FlatBuffers, unix socket)", cfg, prompt, sdkCaller(client, cfg.model))
	results := []result{sdk}
	if reason := probeHTTP(cfg); reason != "" {
		fmt.Printf("HTTP/JSON half skipped: %s\n\n", reason)
	} else {
		results = append(results, measure("http/json (net/http)", cfg, prompt, httpCaller(cfg)))
	}
	printResults(results)
	return nil
}

func sdkCaller(c *outrigger.Client, model string) caller {
	return func(ctx context.Context, prompt string) error {
		resp, err := c.Chat(ctx, &outrigger.Request{Model: model, Messages: []outrigger.Message{outrigger.UserMessage(prompt)}})
		if err != nil {
			return err
		}
		if resp.Content == "" {
			return errors.New("empty answer")
		}
		return nil
	}
}

type chatCompletion struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

func httpClient(cfg config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: cfg.concurrency * 2, MaxIdleConnsPerHost: cfg.concurrency * 2,
		IdleConnTimeout: 30 * time.Second,
	}}
}

func httpCaller(cfg config) caller {
	hc := httpClient(cfg)
	url := strings.TrimSuffix(cfg.httpURL, "/") + "/chat/completions"
	return func(ctx context.Context, prompt string) error {
		body, _ := json.Marshal(map[string]any{"model": cfg.model,
			"messages": []map[string]string{{"role": "user", "content": prompt}}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		var cc chatCompletion
		if err := json.NewDecoder(resp.Body).Decode(&cc); err != nil {
			return err
		}
		if len(cc.Choices) == 0 || cc.Choices[0].Message.Content == "" {
			return errors.New("empty answer")
		}
		return nil
	}
}

// probeHTTP returns why the HTTP half cannot run, or "" when one call succeeds.
func probeHTTP(cfg config) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := httpCaller(cfg)(ctx, "ping"); err != nil {
		return fmt.Sprintf("%s/chat/completions does not answer (%v)", strings.TrimSuffix(cfg.httpURL, "/"), err)
	}
	return ""
}

func measure(name string, cfg config, prompt string, call caller) result {
	r := result{name: name}
	ctx := context.Background()
	for i := 0; i < cfg.warmup; i++ {
		if call(ctx, prompt) != nil {
			r.errors++
		}
	}
	lat := make([]time.Duration, 0, cfg.n)
	var total time.Duration
	for i := 0; i < cfg.n; i++ {
		t0 := time.Now()
		err := call(ctx, prompt)
		d := time.Since(t0)
		if err != nil {
			r.errors++
			continue
		}
		lat = append(lat, d)
		total += d
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.mean = total / time.Duration(len(lat))
	}

	var done, failed atomic.Int64
	stop := time.Now().Add(cfg.duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < cfg.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if call(ctx, prompt) != nil {
					failed.Add(1)
				} else {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r.throughput = float64(done.Load()) / time.Since(start).Seconds()
	r.errors += failed.Load()
	return r
}

func printResults(rs []result) {
	fmt.Printf("%-32s %10s %10s %10s %14s %7s\n", "", "p50", "p99", "mean", "calls/s", "errors")
	for _, r := range rs {
		fmt.Printf("%-32s %10s %10s %10s %14.0f %7d\n", r.name, us(r.p50), us(r.p99), us(r.mean), r.throughput, r.errors)
	}
	if len(rs) == 2 && rs[0].p50 > 0 && rs[0].throughput > 0 {
		fmt.Printf("\nhttp/sdk ratio: p50 %.2fx, p99 %.2fx, throughput sdk/http %.2fx\n",
			float64(rs[1].p50)/float64(rs[0].p50), float64(rs[1].p99)/float64(rs[0].p99),
			rs[0].throughput/rs[1].throughput)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond)) }

// spawnDaemon starts `bin serve` on a temp socket and returns the socket and a stop function.
func spawnDaemon(bin string, showLog bool) (string, func(), error) {
	dir, err := os.MkdirTemp("", "orbench")
	if err != nil {
		return "", nil, err
	}
	sock := filepath.Join(dir, "o.sock")
	cmd := exec.Command(bin, "serve", "--socket", sock)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if showLog {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			return sock, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s did not start serving on %s within 10 s", bin, sock)
}
