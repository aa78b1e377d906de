package streams

import (
	"errors"
	"fmt"
	"sync"
)

// Health tracks whether the Redis loops are working, for /readyz.
type Health struct {
	mu     sync.Mutex
	status map[string]bool
}

// NewHealth returns a tracker with nothing reported yet (not ready).
func NewHealth() *Health { return &Health{status: make(map[string]bool)} }

func (h *Health) ok(loop string)   { h.set(loop, true) }
func (h *Health) fail(loop string) { h.set(loop, false) }

func (h *Health) set(loop string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status[loop] = ok
}

// Ready is nil when every loop's last Redis round trip worked.
func (h *Health) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.status) == 0 {
		return errors.New("consumers not started")
	}
	for loop, ok := range h.status {
		if !ok {
			return fmt.Errorf("%s cannot reach redis", loop)
		}
	}
	return nil
}
