package bench

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// A baseline job writes push frames to the clients connected to the baseline
// server, flat out (within a window of frames in flight) or at a rate, for a
// duration, with writer goroutines that each own a share of the users.

// baselineJob is what POST /run asks for.
type baselineJob struct {
	Mode    string  `json:"mode"` // unicast or broadcast
	Rate    float64 `json:"rate"` // messages/s; 0 = flat out
	DurNs   int64   `json:"dur_ns"`
	Total   int     `json:"total"` // clients (users u0..u<total-1>)
	Payload int     `json:"payload"`
	Topic   string  `json:"topic"`
	Writers int     `json:"writers"`
	// WindowFrames bounds, flat out, the frames written but not yet received by
	// the clients (the bench streams the clients' count to POST /credit), as the
	// bench's publisher bounds the messages in flight to Herald. 0: no bound.
	WindowFrames int64 `json:"window_frames"`
}

// baselineFrame builds a push frame like Herald's, for user u (or the topic) and message n.
func baselineFrame(dst []byte, job *baselineJob, n int64, u int, now int64) []byte {
	dst = append(dst, `{"type":"push","id":"b`...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = append(dst, `","offset":"1-`...)
	dst = strconv.AppendInt(dst, n, 10)
	if job.Mode == modeBroadcast {
		dst = append(dst, `","topic":"`...)
		dst = append(dst, job.Topic...)
	} else {
		dst = append(dst, `","to":"u`...)
		dst = strconv.AppendInt(dst, int64(u), 10)
	}
	dst = append(dst, `","ts":`...)
	dst = strconv.AppendInt(dst, now/1e6, 10)
	dst = append(dst, `,"data":`...)
	dst = appendPayload(dst, n, now, false, job.Payload)
	return append(dst, '}')
}

// wait holds a flat-out writer while the window is full; false when the job ends.
func (s *baselineServer) wait(ctx context.Context, job *baselineJob, end time.Time) bool {
	for job.WindowFrames > 0 && s.frames.Load()-s.delivered.Load() >= job.WindowFrames {
		if ctx.Err() != nil || !time.Now().Before(end) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

// runJob writes the job's frames until its duration ends.
func (s *baselineServer) runJob(ctx context.Context, job *baselineJob) {
	if job.Writers <= 0 {
		job.Writers = 4
	}
	end := time.Now().Add(time.Duration(job.DurNs))
	if job.Rate <= 0 {
		s.runFlatOut(ctx, job, end)
		return
	}
	s.runPaced(ctx, job, end)
}

// runFlatOut writes as fast as the window allows: writer w owns users w, w+W, ...;
// every round writes one message to each (unicast: message k*Total+u; broadcast:
// message k to all, so a broadcast published as many messages as the most rounds
// a writer completed).
func (s *baselineServer) runFlatOut(ctx context.Context, job *baselineJob, end time.Time) {
	rounds := make([]int64, job.Writers)
	var wg sync.WaitGroup
	for w := 0; w < job.Writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rounds[w] = s.flatOutWriter(ctx, job, end, w)
		}(w)
	}
	wg.Wait()
	if job.Mode == modeBroadcast {
		var m int64
		for _, k := range rounds {
			m = max(m, k)
		}
		s.published.Store(m)
	}
}

// flatOutWriter is writer w of a flat-out job; it returns the rounds it completed.
func (s *baselineServer) flatOutWriter(ctx context.Context, job *baselineJob, end time.Time, w int) (rounds int64) {
	buf := make([]byte, 0, job.Payload+256)
	for k := int64(0); ; k++ {
		for u := w; u < job.Total; u += job.Writers {
			if ctx.Err() != nil || !time.Now().Before(end) {
				return rounds
			}
			c := s.conn(u)
			if c == nil {
				continue
			}
			if !s.wait(ctx, job, end) {
				return rounds
			}
			n := k
			if job.Mode != modeBroadcast {
				n = k*int64(job.Total) + int64(u)
				s.published.Add(1)
			}
			buf = baselineFrame(buf[:0], job, n, u, time.Now().UnixNano())
			s.write(c, buf)
		}
		rounds = k + 1
	}
}

// runPaced publishes message n at the job's rate: unicast to user n % Total, by
// the writer that owns that user; broadcast to every user, by every writer.
func (s *baselineServer) runPaced(ctx context.Context, job *baselineJob, end time.Time) {
	W := job.Writers
	var wg sync.WaitGroup
	chans := make([]chan int64, W)
	for w := range chans {
		chans[w] = make(chan int64, 4096)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s.pacedWriter(job, w, chans[w])
		}(w)
	}
	start := time.Now()
	var sent int64
	for ctx.Err() == nil && time.Now().Before(end) {
		due := int64(job.Rate * time.Since(start).Seconds())
		for ; sent < due; sent++ {
			s.published.Add(1)
			if job.Mode == modeBroadcast {
				for _, ch := range chans {
					ch <- sent
				}
			} else {
				chans[int(sent%int64(job.Total))%W] <- sent
			}
		}
		time.Sleep(time.Millisecond)
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
}

// pacedWriter is writer w of a paced job: it writes each message it receives to
// its users (broadcast) or to the message's user (unicast), until ch is closed.
func (s *baselineServer) pacedWriter(job *baselineJob, w int, ch <-chan int64) {
	buf := make([]byte, 0, job.Payload+256)
	for n := range ch {
		if job.Mode == modeBroadcast {
			for u := w; u < job.Total; u += job.Writers {
				if c := s.conn(u); c != nil {
					buf = baselineFrame(buf[:0], job, n, u, time.Now().UnixNano())
					s.write(c, buf)
				}
			}
			continue
		}
		u := int(n % int64(job.Total))
		if c := s.conn(u); c != nil {
			buf = baselineFrame(buf[:0], job, n, u, time.Now().UnixNano())
			s.write(c, buf)
		}
	}
}
