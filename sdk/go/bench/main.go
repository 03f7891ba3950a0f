// Command bench measures round-trip latency and throughput of unary chat calls to the mock
// provider through one Outrigger daemon by two ways in: the Go SDK (FlatBuffers over the Unix
// socket) and the daemon's OpenAI-compatible HTTP/JSON front with net/http (HTTP/1.1
// keep-alive), at the same concurrency levels, in the same run.
//
//	go run ./bench -spawn ../../build/release/bin/outrigger   # private daemon, both fronts
//	go run ./bench -socket /run/outrigger/outrigger.sock -http-url http://127.0.0.1:8080/v1
//
// With a daemon binary (-spawn, else $OUTRIGGER_BIN) and no -socket, the benchmark starts that
// daemon with a temporary config: a socket in a temp folder and the HTTP front on a free
// loopback port, both in front of the same mock route; it stops the daemon at the end.
// Otherwise it uses a running daemon (-socket, else $OUTRIGGER_SOCKET, else the default path;
// -http-url, else $OUTRIGGER_HTTP_URL, else http://127.0.0.1:8080/v1), and skips the HTTP half,
// with a message, when that URL does not answer.
//
// Each point runs `concurrency` calls in flight for -duration after -warmup and reports p50 and
// p99 of every call's round trip and the calls per second. The ratio rows divide HTTP latency by
// SDK latency and SDK throughput by HTTP throughput: above 1, the SDK is faster. Absolute
// figures vary a lot between machines and runs; compare the two halves of one run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	outrigger "github.com/outrigger-dev/outrigger/sdk/go"
)

// benchConfig is the daemon config of -spawn: one daemon, two fronts, one mock route, so that
// only the way in differs between the two halves.
const benchConfig = `# Written by the Outrigger benchmark.
default_route = "default"

[server]
socket = %q

[http]
listen = "127.0.0.1:0"

[instances.mock]
type = "provider.mock"
[instances.mock.config]
mode = "echo"

[routes.default]
provider = "mock"
`

type config struct {
	socket   string
	spawn    string
	httpURL  string
	model    string
	levels   []int
	duration time.Duration
	warmup   time.Duration
	size     int
}

// caller performs one complete chat call and checks the answer.
type caller func(ctx context.Context) error

type point struct {
	latencies  []time.Duration
	calls      int
	errors     int
	firstError error
	elapsed    time.Duration
}

func main() {
	var cfg config
	levels := flag.String("concurrency", "1,8,64", "comma-separated calls in flight, one point per level")
	flag.StringVar(&cfg.socket, "socket", "", "socket of a running daemon (default: $OUTRIGGER_SOCKET, then the first existing of "+strings.Join(outrigger.DefaultSocketCandidates(), ", ")+")")
	flag.StringVar(&cfg.spawn, "spawn", os.Getenv("OUTRIGGER_BIN"), "daemon binary to start with a private config (default: $OUTRIGGER_BIN; ignored with -socket)")
	flag.StringVar(&cfg.httpURL, "http-url", envOr("OUTRIGGER_HTTP_URL", "http://127.0.0.1:8080/v1"), "base URL of a running daemon's OpenAI-compatible front")
	flag.StringVar(&cfg.model, "model", "mock-1", "model (route) to call")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "time measured per point")
	flag.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "time before measuring, per point")
	flag.IntVar(&cfg.size, "size", 64, "prompt size in bytes")
	flag.Parse()
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "bench: -concurrency takes numbers of at least 1, separated by commas")
			os.Exit(2)
		}
		cfg.levels = append(cfg.levels, n)
	}
	errs, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if errs > 0 {
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(cfg config) (int, error) {
	prompt := strings.Repeat("lorem ipsum ", cfg.size/12+1)[:cfg.size]
	fmt.Printf("Outrigger Go SDK benchmark: outrigger-go %s, %s, GOMAXPROCS %d; model %q, %d-byte prompt, %v per point after %v warm-up\n",
		outrigger.Version, runtime.Version(), runtime.GOMAXPROCS(0), cfg.model, cfg.size, cfg.duration, cfg.warmup)
	if cfg.spawn != "" && cfg.socket == "" {
		d, err := startDaemon(cfg.spawn)
		if err != nil {
			return 0, err
		}
		defer d.stop()
		cfg.socket, cfg.httpURL = d.socket, d.httpURL
		fmt.Printf("started %s with a temporary config: socket, [http] on 127.0.0.1:0, mock route\n", cfg.spawn)
	}
	var opts []outrigger.Option
	if cfg.socket != "" {
		opts = append(opts, outrigger.WithSocketPath(cfg.socket))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	client, err := outrigger.Dial(ctx, opts...)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("cannot reach the daemon: %w", err)
	}
	defer client.Close()
	url := strings.TrimSuffix(cfg.httpURL, "/") + "/chat/completions"
	fmt.Printf("daemon: socket %s, HTTP %s\n", client.SocketPath(), cfg.httpURL)

	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 2 * slices.Max(cfg.levels), MaxIdleConnsPerHost: 2 * slices.Max(cfg.levels),
		IdleConnTimeout: 30 * time.Second,
	}}
	skipped := probeHTTP(hc, url, cfg.model)
	if skipped != "" {
		fmt.Printf("HTTP/JSON half skipped: %s. Start the daemon with an [http] section and pass -http-url "+
			"(or OUTRIGGER_HTTP_URL), or let the benchmark start one (-spawn).\n", skipped)
	}
	fmt.Println()
	row("concurrency", "transport", "p50 us", "p99 us", "calls/s", "errors")
	sdk, web := sdkCaller(client, cfg.model, prompt), httpCaller(hc, url, cfg.model, prompt)
	errs := 0
	for _, level := range cfg.levels {
		s := measure(sdk, level, cfg.warmup, cfg.duration)
		printPoint(level, "sdk (FlatBuffers, unix socket)", s)
		errs += s.errors
		if skipped != "" {
			continue
		}
		h := measure(web, level, cfg.warmup, cfg.duration)
		printPoint(level, "http/json (net/http)", h)
		errs += h.errors
		row("", "ratio", ratio(h.percentile(50), s.percentile(50)), ratio(h.percentile(99), s.percentile(99)),
			ratio(s.throughput(), h.throughput()), "")
	}
	if skipped == "" {
		fmt.Println("\nratio: HTTP latency / SDK latency, SDK calls/s / HTTP calls/s (above 1: the SDK is faster)")
	}
	return errs, nil
}

func sdkCaller(c *outrigger.Client, model, prompt string) caller {
	return func(ctx context.Context) error {
		resp, err := c.Chat(ctx, &outrigger.Request{Model: model, Messages: []outrigger.Message{outrigger.UserMessage(prompt)}})
		if err != nil {
			return err
		}
		if resp.Content != prompt {
			return fmt.Errorf("unexpected answer %q", resp.Content)
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

func httpCaller(hc *http.Client, url, model, prompt string) caller {
	return func(ctx context.Context) error {
		body, err := json.Marshal(map[string]any{"model": model,
			"messages": []map[string]string{{"role": "user", "content": prompt}}})
		if err != nil {
			return err
		}
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
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
		}
		var cc chatCompletion
		if err := json.NewDecoder(resp.Body).Decode(&cc); err != nil {
			return err
		}
		if len(cc.Choices) == 0 || cc.Choices[0].Message.Content != prompt {
			return errors.New("unexpected answer")
		}
		return nil
	}
}

// probeHTTP returns why the HTTP half cannot run, or "" when one call succeeds.
func probeHTTP(hc *http.Client, url, model string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := httpCaller(hc, url, model, "ping")(ctx); err != nil {
		return fmt.Sprintf("%s does not answer (%v)", url, err)
	}
	return ""
}

// measure runs `concurrency` goroutines calling back to back; only calls that start after the
// warm-up count.
func measure(call caller, concurrency int, warmup, duration time.Duration) point {
	ctx := context.Background()
	start := time.Now().Add(warmup)
	stop := start.Add(duration)
	var mu sync.Mutex
	var p point
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var first error
			for {
				t0 := time.Now()
				if !t0.Before(stop) {
					break
				}
				err := call(ctx)
				if t0.Before(start) {
					continue
				}
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			p.latencies = append(p.latencies, lat...)
			p.calls += len(lat)
			p.errors += errs
			if p.firstError == nil {
				p.firstError = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	p.elapsed = duration
	slices.Sort(p.latencies)
	return p
}

// percentile is the nearest-rank percentile of the sorted latencies, in microseconds.
func (p point) percentile(q float64) float64 {
	if len(p.latencies) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q/100*float64(len(p.latencies)))) - 1
	return float64(p.latencies[max(0, i)]) / float64(time.Microsecond)
}

func (p point) throughput() float64 { return float64(p.calls) / p.elapsed.Seconds() }

func row(concurrency, name, p50, p99, calls, errs string) {
	fmt.Println(strings.TrimRight(fmt.Sprintf("%11s  %-30s %10s %10s %10s %7s", concurrency, name, p50, p99, calls, errs), " "))
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func printPoint(level int, name string, p point) {
	row(strconv.Itoa(level), name, num(p.percentile(50), 1), num(p.percentile(99), 1), num(p.throughput(), 0), strconv.Itoa(p.errors))
	if p.firstError != nil {
		fmt.Printf("%13sfirst error: %v\n", "", p.firstError)
	}
}

func ratio(a, b float64) string {
	if !(a > 0 && b > 0) {
		return "-"
	}
	return fmt.Sprintf("x%.2f", a/b)
}

type daemon struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	dir     string
	socket  string
	httpURL string
}

var listeningRE = regexp.MustCompile(`API listening on (\S+)`)

// startDaemon runs `bin serve --config` with the socket and the HTTP front on, and waits until
// both accept connections.
func startDaemon(bin string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "orbench-")
	if err != nil {
		return nil, err
	}
	d := &daemon{dir: dir, socket: filepath.Join(dir, "o.sock"), exited: make(chan struct{})}
	cfgPath := filepath.Join(dir, "bench.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(benchConfig, d.socket)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logPath := filepath.Join(dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	d.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-d.exited:
			log := readLog()
			d.stop()
			return nil, fmt.Errorf("%s exited during start-up:\n%s", bin, log)
		default:
		}
		m := listeningRE.FindStringSubmatch(readLog())
		if m == nil {
			continue
		}
		if nc, err := net.Dial("unix", d.socket); err == nil {
			nc.Close()
			d.httpURL = "http://" + m[1] + "/v1"
			return d, nil
		}
	}
	log := readLog()
	d.stop()
	return nil, fmt.Errorf("%s did not start within 10 s:\n%s", bin, log)
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	os.RemoveAll(d.dir)
}
