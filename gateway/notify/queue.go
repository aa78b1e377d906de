package notify

import (
	"container/heap"
	"sync"
	"time"

	"github.com/herald-push/herald/streams"
)

// job is one held event: waiting until due (the grace, or a retry's backoff),
// or being handled.
type job struct {
	ev       streams.UndeliveredEvent
	due      time.Time
	attempts int   // sends of this notification a platform refused for now
	lastErr  error // the last refusal, for the dead letter
	redisErr int   // Redis failures in a row, for the backoff
}

// queue holds at most max events, ordered by due time, so that a long grace
// for one user never holds back another's due event. Events being handled
// stay counted until done: the bound covers every event the worker holds.
type queue struct {
	max  int
	mu   sync.Mutex
	due  jobHeap
	held map[string]bool // ids queued or being handled
	wake chan struct{}   // a job became due earlier, or room appeared; cap 1
	room chan struct{}   // an event was let go; cap 1
}

func newQueue(max int) *queue {
	return &queue{max: max, held: make(map[string]bool), wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// Room is how many more events may be added.
func (q *queue) Room() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.max - len(q.held)
}

// Len is the number of events held.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held)
}

// Add holds a new event; false when it is held already (this worker claimed
// an event it holds) or there is no room.
func (q *queue) Add(j *job) bool {
	q.mu.Lock()
	if q.held[j.ev.ID] || len(q.held) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.held[j.ev.ID] = true
	heap.Push(&q.due, j)
	q.mu.Unlock()
	signal(q.wake)
	return true
}

// Again puts back an event being handled, to be handled again at j.due.
func (q *queue) Again(j *job) {
	q.mu.Lock()
	heap.Push(&q.due, j)
	q.mu.Unlock()
	signal(q.wake)
}

// Done lets an event go.
func (q *queue) Done(id string) {
	q.mu.Lock()
	delete(q.held, id)
	q.mu.Unlock()
	signal(q.room)
}

// IDs lists the events held.
func (q *queue) IDs() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := make([]string, 0, len(q.held))
	for id := range q.held {
		ids = append(ids, id)
	}
	return ids
}

// Next waits for the earliest job to be due and returns it; nil once stop is
// closed, even with jobs due: a stopping worker starts no new send.
func (q *queue) Next(now func() time.Time, stop <-chan struct{}) *job {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		j, wait := q.pop(now())
		if j != nil {
			return j
		}
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return nil
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// pop returns the earliest job when due, else how long until it is (an hour
// when none is queued: Add wakes the waiter).
func (q *queue) pop(now time.Time) (*job, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.due) == 0 {
		return nil, time.Hour
	}
	if wait := q.due[0].due.Sub(now); wait > 0 {
		return nil, wait
	}
	j := heap.Pop(&q.due).(*job)
	if len(q.due) > 0 {
		signal(q.wake) // another waiter may take the next one
	}
	return j, 0
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// jobHeap orders jobs by due time (container/heap).
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)        { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}
