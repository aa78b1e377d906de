package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams/redisserver"
)

// redisProc is a throw-away redis-server on a free loopback port, started the way
// streams/redistest starts them for tests (no persistence, Pdeathsig), but without
// the testing API.
type redisProc struct {
	Addr string
	bin  string
	dir  string
	log  string
	// extra redis-server arguments (--redis-arg), after the bench's own.
	extra []string
	cmd   *exec.Cmd
	done  chan struct{}
}

// startRedis starts redis-server with its data and log in dir, and the extra
// arguments of --redis-arg.
func startRedis(dir string, extra []string) (*redisProc, error) {
	bin, err := redisserver.Binary()
	if err != nil {
		return nil, fmt.Errorf("%w; or pass --redis ADDR", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &redisProc{bin: bin, dir: dir, log: filepath.Join(dir, "redis.log"), extra: extra}
	var lastErr error
	for try := 0; try < 5; try++ {
		port, err := redisserver.FreePort()
		if err != nil {
			return nil, err
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		retry, err := r.launch(port)
		if err == nil {
			return r, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return nil, fmt.Errorf("starting %s: %w", bin, lastErr)
}

func (r *redisProc) launch(port int) (retry bool, err error) {
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	off, _ := logf.Seek(0, io.SeekEnd)
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--protected-mode", "no", "--logfile", "",
	}
	args = append(args, r.extra...)
	fmt.Fprintf(logf, "### herald bench: %s %q\n", r.bin, args)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-done:
			tail := tailFile(r.log, off, 20)
			return strings.Contains(tail, "already in use"), fmt.Errorf("redis-server on port %d exited during startup (%v):\n%s", port, cmd.ProcessState, tail)
		default:
		}
		if info, err := redisserver.Do(r.Addr, "", "INFO", "server"); err == nil &&
			strings.Contains(info, "\nprocess_id:"+strconv.Itoa(cmd.Process.Pid)+"\r\n") {
			return false, nil
		}
		if time.Now().After(deadline) {
			r.Kill()
			return false, fmt.Errorf("redis-server on port %d did not answer within 5s:\n%s", port, tailFile(r.log, off, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID is the server's process id.
func (r *redisProc) PID() int { return r.cmd.Process.Pid }

// Kill stops the server with SIGKILL (nothing to save) and waits for it.
func (r *redisProc) Kill() {
	if r == nil || r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
}

// tailFile returns the last n lines written to path after offset off.
func tailFile(path string, off int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if off > 0 && off <= int64(len(b)) {
		b = b[off:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// redisInfo reads INFO sections into a map.
func redisInfo(ctx context.Context, rdb redis.UniversalClient, sections ...string) (map[string]string, error) {
	s, err := rdb.Info(ctx, sections...).Result()
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			kv[k] = v
		}
	}
	return kv, nil
}

// redisCPU is Redis's used CPU (user + sys) in seconds.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) (float64, bool) {
	kv, err := redisInfo(ctx, rdb, "cpu")
	if err != nil {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(kv["used_cpu_user"], 64)
	s, err2 := strconv.ParseFloat(kv["used_cpu_sys"], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}

// redisUsedMemory is INFO memory used_memory in bytes.
func redisUsedMemory(ctx context.Context, rdb redis.UniversalClient) float64 {
	kv, err := redisInfo(ctx, rdb, "memory")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(kv["used_memory"], 64)
	return v
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct{ calls, usec int64 }

// redisCommandStats reads INFO commandstats: calls and µs per command.
func redisCommandStats(ctx context.Context, rdb redis.UniversalClient) map[string]cmdStat {
	kv, err := redisInfo(ctx, rdb, "commandstats")
	if err != nil {
		return nil
	}
	out := map[string]cmdStat{}
	for k, v := range kv {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		var c cmdStat
		for _, f := range strings.Split(v, ",") {
			fk, fv, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(fv, 10, 64)
			switch fk {
			case "calls":
				c.calls = n
			case "usec":
				c.usec = n
			}
		}
		out[name] = c
	}
	return out
}

// commandDelta is what each command cost between two readings, busiest first.
func commandDelta(a, b map[string]cmdStat) []CommandStat {
	var out []CommandStat
	for name, cb := range b {
		ca := a[name]
		d := CommandStat{Command: name, Calls: cb.calls - ca.calls, Usec: cb.usec - ca.usec}
		if d.Calls <= 0 {
			continue
		}
		d.UsecPerCall = float64(d.Usec) / float64(d.Calls)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Usec > out[j].Usec })
	return out
}
