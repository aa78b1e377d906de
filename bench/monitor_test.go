package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMonitorPrint(t *testing.T) {
	var log bytes.Buffer
	m := &monitor{r: &runner{log: &log}}
	m.print(Sample{T: 3, Phase: "measure", Connected: 10000, Published: 20000.7, Delivered: 19999, P50: 1.5, P99: 12.3, Max: 40,
		NodeRSSMB: 120.4, NodeCPUPct: 85, RedisCPUPct: 30, ClientCPUPct: 55, HostTakenPct: 7}, Tick{Down: 2, Dup: 1})
	m.print(Sample{T: 4, Phase: "connect", Connected: 5, HostTakenPct: 4.9}, Tick{})
	want := "[   3s] measure  conns 10000  pub  20,000/s  recv  19,999/s  p50 1.50 p99 12.3 max 40 ms  down 2  dup 1  server 85% cpu 120 MB  redis 30%  clients 55%  host took 7%\n" +
		"[   4s] connect  conns 5     \n"
	if log.String() != want {
		t.Errorf("monitor lines:\n%s\nwant\n%s", log.String(), want)
	}
}

// A sample is the second's rates, from the previous readings.
func TestMonitorSample(t *testing.T) {
	g := &fakeGroup{tick: Tick{Connected: 10, Distinct: 500, Interval: histOf(1000, 2000, 3000, 40000)}}
	m := &monitor{e: &env{}, pool: &clientPool{groups: []group{g}}, start: time.Unix(100, 0)}
	m.phase.Store("measure")
	m.setSource(&fakeSource{pub: 1000})
	sp := &sampler{prev: time.Unix(101, 0), prevCPU: map[int]float64{}, prevRedis: -1, prevClient: -1, prevHost: readHost()}
	sp.prevPub, sp.prevDel = 400, 100
	s, tk := m.sample(sp, time.Unix(103, 0))
	if s.T != 3 || s.Phase != "measure" || s.Connected != 10 || s.Delivered != 200 || s.Published != 300 || tk.Distinct != 500 {
		t.Errorf("sample %+v", s)
	}
	if !near(s.P50, 2, 0.002) || !near(s.P99, 40, 0.002) || !near(s.Max, 40, 0.002) {
		t.Errorf("latencies %v %v %v", s.P50, s.P99, s.Max)
	}
	if s.ClientCPUPct != 0 || sp.prevClient <= 0 || sp.prevPub != 1000 || sp.prevDel != 500 || m.last.Distinct != 500 {
		t.Errorf("the first client CPU reading has no rate; the readings move on: %+v %+v", s, sp)
	}
	// A failing tick leaves the clients' figures out, not the rest.
	g.err = errors.New("worker gone")
	s, _ = m.sample(sp, time.Unix(104, 0))
	if s.Connected != 0 || s.Delivered != 0 || s.Published != 0 || sp.prevDel != 500 {
		t.Errorf("sample with a failing tick %+v", s)
	}
}

// The monitor samples until halt, takes a last partial sample, and halt may be
// called again.
func TestMonitorLifecycle(t *testing.T) {
	var log bytes.Buffer
	r := &runner{log: &log}
	sr := &ScenarioResult{}
	g := &fakeGroup{tick: Tick{Connected: 3}}
	m := r.startMonitor(sr, &env{}, &clientPool{groups: []group{g}}, 1)
	m.setPhase("hold")
	time.Sleep(300 * time.Millisecond)
	m.halt()
	m.halt()
	// One sample, the partial one at halt (two if this machine held the test up
	// for over a second).
	last := len(sr.Timeline) - 1
	if last < 0 || last > 1 || sr.Timeline[last].Phase != "hold" || sr.Timeline[last].Connected != 3 || sr.Timeline[last].T < 0.3 {
		t.Errorf("timeline %+v", sr.Timeline)
	}
	if !strings.Contains(log.String(), "hold     conns 3") {
		t.Errorf("log %q", log.String())
	}
	// Halted right after the start: no sample.
	sr = &ScenarioResult{}
	r.startMonitor(sr, &env{}, &clientPool{groups: []group{g}}, 1).halt()
	if len(sr.Timeline) != 0 {
		t.Errorf("timeline %+v", sr.Timeline)
	}
}
