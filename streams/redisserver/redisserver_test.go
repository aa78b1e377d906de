package redisserver

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRedis answers the commands of one connection with the given replies, in
// order, and sends each command (its arguments joined by spaces) to got.
func fakeRedis(t *testing.T, replies ...string) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got = make(chan string, len(replies))
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for _, reply := range replies {
			line, _ := r.ReadString('\n')
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "*"), "\r\n"))
			if err != nil {
				return
			}
			args := make([]string, n)
			for i := range args {
				_, _ = r.ReadString('\n') // $<len>
				a, _ := r.ReadString('\n')
				args[i] = strings.TrimSuffix(a, "\r\n")
			}
			got <- strings.Join(args, " ")
			_, _ = c.Write([]byte(reply))
		}
	}()
	return ln.Addr().String(), got
}

func TestDoAuthenticatesAndReadsABulkReply(t *testing.T) {
	addr, got := fakeRedis(t, "+OK\r\n", "$5\r\nhello\r\n")
	v, err := Do(addr, "secret", "GET", "k")
	if err != nil || v != "hello" {
		t.Fatalf("Do = %q, %v; want hello", v, err)
	}
	if a, b := <-got, <-got; a != "AUTH secret" || b != "GET k" {
		t.Fatalf("commands sent: %q, %q; want AUTH then GET", a, b)
	}
}

func TestDoTurnsAnErrorReplyIntoAnError(t *testing.T) {
	addr, _ := fakeRedis(t, "-LOADING Redis is loading\r\n")
	if _, err := Do(addr, "", "PING"); err == nil || !strings.HasPrefix(err.Error(), "LOADING") {
		t.Fatalf("error reply gave %v, want a LOADING error", err)
	}
}

func TestFreePortIsBindable(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("port %d: %v", p, err)
	}
	ln.Close()
}
