package redisserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound: no redis-server in $HERALD_REDIS_SERVER, PATH, /usr/bin or /usr/sbin.
var ErrNotFound = errors.New("redis-server not found (looked in $HERALD_REDIS_SERVER, PATH, /usr/bin, /usr/sbin); " +
	"install Debian's redis-server (apt-get install redis-server, or run scripts/ensure-redis.sh) or set HERALD_REDIS_SERVER")

// Binary returns the redis-server to run: $HERALD_REDIS_SERVER, else redis-server
// from PATH, /usr/bin or /usr/sbin.
func Binary() (string, error) {
	if p := os.Getenv("HERALD_REDIS_SERVER"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("HERALD_REDIS_SERVER=%q is not an executable: %w", p, err)
		}
		return p, nil
	}
	if p, err := Find("redis-server", ""); err == nil {
		return p, nil
	}
	return "", ErrNotFound
}

// Find looks for the executable name next to sibling (when set), then in PATH,
// /usr/bin and /usr/sbin.
func Find(name, sibling string) (string, error) {
	var cands []string
	if sibling != "" {
		cands = append(cands, filepath.Join(filepath.Dir(sibling), name))
	}
	if p, err := exec.LookPath(name); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/"+name, "/usr/sbin/"+name)
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// FreePort picks a free loopback port. It is released before the server binds
// it, so another process may take it first; callers retry on "address in use".
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Do sends one command (after AUTH when password is set) over a fresh connection
// and returns its simple, integer or bulk string reply; an error reply is an error.
func Do(addr, password string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var buf bytes.Buffer
	write := func(args ...string) {
		fmt.Fprintf(&buf, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&buf, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if password != "" {
		write("AUTH", password)
	}
	write(args...)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := readReply(r); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	return readReply(r)
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:]) // e.g. "LOADING ..." while the AOF loads
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
