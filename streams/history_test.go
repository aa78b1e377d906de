package streams_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// histEntry is one history entry as the router stores it.
type histEntry struct {
	id  string // stream entry id: the offset
	exp int64  // 0: no expiry
}

// fillHistory writes entries with ids and fields in the router's history format;
// maxLen > 0 trims exactly, like the router.
func fillHistory(t *testing.T, e *env, r wire.Recipient, maxLen int64, entries ...histEntry) {
	t.Helper()
	for _, h := range entries {
		values := []any{"id", "m" + h.id, "data", fmt.Sprintf(`{"at":"%s"}`, h.id), "ts", fmt.Sprint(wire.MustOffset(h.id).Ms), "from", "bob"}
		if h.exp != 0 {
			values = append(values, "exp", fmt.Sprint(h.exp))
		}
		if err := e.rdb.XAdd(testCtx(t), &redis.XAddArgs{Stream: e.keys.History(r), ID: h.id, MaxLen: maxLen, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(n int, from int) []histEntry {
	out := make([]histEntry, n)
	for i := range out {
		out[i] = histEntry{id: fmt.Sprintf("%d-0", (from+i)*10)}
	}
	return out
}

func replayAll(t *testing.T, h *streams.History, r wire.Recipient, since string) (got []string, last wire.Offset, complete bool, pages int) {
	t.Helper()
	last, complete, err := h.Replay(testCtx(t), r, wire.MustOffset(since), func(ps []*wire.Push) error {
		pages++
		for _, p := range ps {
			got = append(got, p.Offset.String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Replay since %s: %v", since, err)
	}
	return got, last, complete, pages
}

func TestHistoryReplay(t *testing.T) {
	t.Parallel()
	const now = 1_000_000
	tests := []struct {
		name         string
		size         int
		setup        []histEntry
		maxLen       int64
		since        string
		want         []string
		wantLast     string
		wantComplete bool
	}{
		{name: "new user since zero", size: 10, since: "0-0", want: nil, wantLast: "0-0", wantComplete: true},
		{name: "new user since an offset (history lost or expired)", size: 10, since: "50-0", want: nil, wantLast: "50-0", wantComplete: false},
		{name: "since zero, history not full", size: 10, setup: ids(3, 1), since: "0-0", want: []string{"10-0", "20-0", "30-0"}, wantLast: "30-0", wantComplete: true},
		{name: "since zero, history full (may have been trimmed)", size: 3, setup: ids(3, 1), since: "0-0", want: []string{"10-0", "20-0", "30-0"}, wantLast: "30-0", wantComplete: false},
		{name: "since inside history", size: 10, setup: ids(5, 1), since: "30-0", want: []string{"40-0", "50-0"}, wantLast: "50-0", wantComplete: true},
		{name: "since the oldest entry", size: 10, setup: ids(3, 1), since: "10-0", want: []string{"20-0", "30-0"}, wantLast: "30-0", wantComplete: true},
		{name: "since between entries", size: 10, setup: ids(3, 1), since: "15-3", want: []string{"20-0", "30-0"}, wantLast: "30-0", wantComplete: true},
		{name: "since the newest entry", size: 10, setup: ids(3, 1), since: "30-0", want: nil, wantLast: "30-0", wantComplete: true},
		{name: "since older than the oldest held after trimming", size: 5, setup: ids(8, 1), maxLen: 5, since: "20-0", want: []string{"40-0", "50-0", "60-0", "70-0", "80-0"}, wantLast: "80-0", wantComplete: false},
		{name: "since just before the oldest held after trimming (judged conservatively)", size: 5, setup: ids(8, 1), maxLen: 5, since: "30-0", want: []string{"40-0", "50-0", "60-0", "70-0", "80-0"}, wantLast: "80-0", wantComplete: false},
		{name: "since the oldest held after trimming", size: 5, setup: ids(8, 1), maxLen: 5, since: "40-0", want: []string{"50-0", "60-0", "70-0", "80-0"}, wantLast: "80-0", wantComplete: true},
		{name: "since older than the oldest held, history not full (deleted and recreated under the client)", size: 10, setup: ids(3, 1), since: "5-0", want: []string{"10-0", "20-0", "30-0"}, wantLast: "30-0", wantComplete: false},
		{name: "since beyond the newest entry", size: 10, setup: ids(3, 1), since: "99-0", want: nil, wantLast: "99-0", wantComplete: false},
		{name: "since one seq beyond the newest entry", size: 10, setup: ids(3, 1), since: "30-1", want: nil, wantLast: "30-1", wantComplete: false},
		{
			name: "expired entries left out", size: 10, since: "0-0",
			setup:    []histEntry{{id: "10-0"}, {id: "20-0", exp: now - 1}, {id: "30-0", exp: now + 1}, {id: "40-0", exp: now}, {id: "50-0"}},
			want:     []string{"10-0", "30-0", "50-0"},
			wantLast: "50-0", wantComplete: true,
		},
		{
			name: "all entries after since expired", size: 10, since: "10-0",
			setup:    []histEntry{{id: "10-0"}, {id: "20-0", exp: now - 1}},
			want:     nil,
			wantLast: "20-0", wantComplete: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := wire.User("carol")
			fillHistory(t, e, r, tt.maxLen, tt.setup...)
			h := streams.NewHistory(e.reads(t), e.keys, tt.size, func() int64 { return now }, e.metrics)
			got, last, complete, _ := replayAll(t, h, r, tt.since)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("replayed %v, want %v", got, tt.want)
			}
			if last.String() != tt.wantLast {
				t.Errorf("last %v, want %s", last, tt.wantLast)
			}
			if complete != tt.wantComplete {
				t.Errorf("complete %v, want %v", complete, tt.wantComplete)
			}
		})
	}
}

// The pushes replayed carry everything stored, and their frames are encoded.
func TestHistoryReplayPushFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := wire.Topic("news")
	fillHistory(t, e, r, 0, histEntry{id: "1700000000000-1", exp: 1700000009999})
	xaddID(t, e.rdb, e.keys.History(r), "1700000000000-2", "id", "plain", "data", `"x"`, "ts", "1700000000000")
	h := streams.NewHistory(e.reads(t), e.keys, 10, func() int64 { return 1700000000500 }, e.metrics)
	var got []*wire.Push
	if _, _, err := h.Replay(testCtx(t), r, wire.Offset{}, func(ps []*wire.Push) error { got = append(got, ps...); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []wire.Push{
		{Recipient: r, ID: "m1700000000000-1", Offset: wire.MustOffset("1700000000000-1"), From: "bob", TS: 1700000000000, Expire: 1700000009999, Data: []byte(`{"at":"1700000000000-1"}`)},
		{Recipient: r, ID: "plain", Offset: wire.MustOffset("1700000000000-2"), TS: 1700000000000, Data: []byte(`"x"`)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d pushes, want %d", len(got), len(want))
	}
	for i, w := range want {
		w.Encode()
		g := *got[i]
		if !reflect.DeepEqual(g, w) {
			t.Errorf("push %d\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// Entries that are not in the history format are skipped, not fatal.
func TestHistoryReplaySkipsCorruptEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := wire.User("carol")
	key := e.keys.History(r)
	xaddID(t, e.rdb, key, "10-0", "id", "a", "data", "1", "ts", "10")
	xaddID(t, e.rdb, key, "20-0", "id", "b", "ts", "20")                 // no data
	xaddID(t, e.rdb, key, "30-0", "data", "1", "ts", "30")               // no id
	xaddID(t, e.rdb, key, "40-0", "id", "d", "data", "{bad", "ts", "40") // bad data
	xaddID(t, e.rdb, key, "50-0", "id", "e", "data", "2", "ts", "50")
	h := streams.NewHistory(e.reads(t), e.keys, 10, func() int64 { return 0 }, e.metrics)
	got, last, complete, _ := replayAll(t, h, r, "0-0")
	if !reflect.DeepEqual(got, []string{"10-0", "50-0"}) || last.String() != "50-0" || !complete {
		t.Fatalf("replayed %v last %v complete %v", got, last, complete)
	}
}

// Replay reads page by page, in order, without loss or repetition.
func TestHistoryReplayPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := wire.User("carol")
	var entries []histEntry
	for i := 1; i <= 250; i++ {
		entries = append(entries, histEntry{id: fmt.Sprintf("1000-%d", i)})
	}
	// One pipeline instead of 250 round trips.
	pipe := e.rdb.Pipeline()
	for _, h := range entries {
		pipe.XAdd(testCtx(t), &redis.XAddArgs{Stream: e.keys.History(r), ID: h.id, Values: []any{"id", h.id, "data", "1", "ts", "1000"}})
	}
	if _, err := pipe.Exec(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	h := streams.NewHistory(e.reads(t), e.keys, 1000, func() int64 { return 0 }, e.metrics)
	got, last, complete, pages := replayAll(t, h, r, "0-0")
	if len(got) != 250 || last.String() != "1000-250" || !complete {
		t.Fatalf("replayed %d, last %v, complete %v", len(got), last, complete)
	}
	for i, o := range got {
		if o != entries[i].id {
			t.Fatalf("entry %d is %s, want %s", i, o, entries[i].id)
		}
	}
	if pages < 3 {
		t.Fatalf("250 entries in %d pages; want pages of at most 100", pages)
	}
	got, _, _, _ = replayAll(t, h, r, "1000-100")
	if len(got) != 150 || got[0] != "1000-101" {
		t.Fatalf("since 1000-100: %d entries from %v", len(got), got[:1])
	}
}

// An error from the page callback stops the replay and is returned.
func TestHistoryReplayPageError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := wire.User("carol")
	fillHistory(t, e, r, 0, ids(3, 1)...)
	h := streams.NewHistory(e.reads(t), e.keys, 10, func() int64 { return 0 }, e.metrics)
	boom := errors.New("session gone")
	calls := 0
	_, complete, err := h.Replay(testCtx(t), r, wire.Offset{}, func([]*wire.Push) error { calls++; return boom })
	if !errors.Is(err, boom) || complete || calls != 1 {
		t.Fatalf("Replay = complete %v, %v after %d calls; want the page error", complete, err, calls)
	}
}

func TestHistoryTop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := streams.NewHistory(e.reads(t), e.keys, 10, func() int64 { return 0 }, e.metrics)
	r := wire.User("carol")
	top, err := h.Top(testCtx(t), r)
	if err != nil || !top.IsZero() {
		t.Fatalf("Top of no history = %v, %v", top, err)
	}
	fillHistory(t, e, r, 0, ids(3, 1)...)
	top, err = h.Top(testCtx(t), r)
	if err != nil || top.String() != "30-0" {
		t.Fatalf("Top = %v, %v; want 30-0", top, err)
	}
}

// A Redis failure is an error, never a silent "complete".
func TestHistoryReplayRedisDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withoutRetries(t)
	h := streams.NewHistory(e.reads(t), e.keys, 10, func() int64 { return 0 }, e.metrics)
	e.srv.Kill()
	_, complete, err := h.Replay(testCtx(t), wire.User("carol"), wire.Offset{}, func([]*wire.Push) error { return nil })
	if err == nil || complete {
		t.Fatalf("Replay with Redis down = complete %v, %v", complete, err)
	}
	if _, err := h.Top(testCtx(t), wire.User("carol")); err == nil {
		t.Fatal("Top with Redis down: no error")
	}
	if n := counter(t, e.metrics.RedisErrors.WithLabelValues("history_range")); n < 1 {
		t.Fatalf("history_range errors = %v", n)
	}
}

// A since at the largest possible offset (a client may send it) is beyond the top:
// nothing is replayed. wire.Offset.Next wraps it to 0-0, so the whole history is.
func TestHistoryReplaySinceMaxOffset(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	r := wire.User("carol")
	fillHistory(t, e, r, 0, ids(3, 1)...)
	h := streams.NewHistory(e.reads(t), e.keys, 10, func() int64 { return 0 }, e.metrics)
	got, _, complete, _ := replayAll(t, h, r, "18446744073709551615-18446744073709551615")
	if len(got) != 0 || complete {
		t.Fatalf("replayed %v, complete %v; want nothing, incomplete", got, complete)
	}
}
