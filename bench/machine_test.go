package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Time the kernel accounted to nothing on a core counts as taken by the host, as
// does the steal it reports; a machine that accounts for all its wall time lost none.
func TestHostTakenPct(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := hostSample{at: t0, accounted: 100, steal: 5, cores: 2, ok: true}
	full := hostSample{at: t0.Add(10 * time.Second), accounted: 120, steal: 5, cores: 2, ok: true}
	if got, ok := hostTakenPct(a, full); !ok || got != 0 {
		t.Errorf("every second accounted: %v%% taken, want 0", got)
	}
	short := hostSample{at: t0.Add(10 * time.Second), accounted: 117, steal: 6, cores: 2, ok: true}
	// 20 s of core time: 17 accounted, 1 steal, 2 missing -> 3 s over 10 s = 30% of a core.
	if got, ok := hostTakenPct(a, short); !ok || got < 29.99 || got > 30.01 {
		t.Errorf("taken %v%%, want 30", got)
	}
	if _, ok := hostTakenPct(a, hostSample{}); ok {
		t.Error("a failed read gave a figure")
	}
	if s := readHost(); !s.ok || s.cores < 1 || s.accounted <= 0 {
		t.Errorf("readHost on this machine: %+v", s)
	}
}

func TestReadKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(path, []byte("Name:\tx\nVmRSS:\t  2048 kB\nno colon here\nEmpty:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kv := readKV(path)
	if len(kv) != 3 || kv["VmRSS"] != "2048 kB" || kv["Name"] != "x" || kv["Empty"] != "" {
		t.Errorf("readKV = %q", kv)
	}
	if kv := readKV(filepath.Join(t.TempDir(), "none")); len(kv) != 0 {
		t.Errorf("a missing file: %v", kv)
	}
}

// This process's own figures, from /proc.
func TestProcFigures(t *testing.T) {
	rss, ok := procRSS(os.Getpid())
	if !ok || rss < 1<<20 || math.Mod(rss, 1024) != 0 {
		t.Errorf("procRSS = %v, %v", rss, ok)
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; { // use some CPU
	}
	cpu, ok := procCPU(os.Getpid())
	if !ok || cpu <= 0 {
		t.Errorf("procCPU = %v, %v", cpu, ok)
	}
	if _, ok := procRSS(-1); ok {
		t.Error("procRSS of no process")
	}
	if _, ok := procCPU(-1); ok {
		t.Error("procCPU of no process")
	}
	la := loadAvg()
	if la[0] < 0 || la[1] < 0 || la[2] < 0 {
		t.Errorf("loadAvg = %v", la)
	}
}

// The machine's description names this binary by its hash, and the commit from
// its build info or, failing that, from git.
func TestMachineInfo(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m := machineInfo(bin)
	if m.Cores != runtime.NumCPU() || m.GoVersion != runtime.Version() || m.OS != runtime.GOOS+"/"+runtime.GOARCH ||
		m.RAMBytes == 0 || m.Kernel == "" || m.FDLimit == 0 || m.HeraldBinary != bin {
		t.Errorf("machine %+v", m)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); m.HeraldSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 %s", m.HeraldSHA256)
	}
	if m.HeraldCommit == "" || m.CommitSource == "" && m.HeraldCommit != "unknown" {
		t.Errorf("commit %q from %q", m.HeraldCommit, m.CommitSource)
	}
	// A file with no build info: git in the working directory (a checkout here).
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("not a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	commit, _, source := heraldCommit(plain)
	if len(commit) != 40 || !strings.HasPrefix(source, "git HEAD of . at run time") {
		t.Errorf("heraldCommit of a plain file = %q from %q", commit, source)
	}
	if m := machineInfo(filepath.Join(t.TempDir(), "none")); m.HeraldSHA256 != "" {
		t.Errorf("a missing binary has a hash: %q", m.HeraldSHA256)
	}
}

func TestShortCommit(t *testing.T) {
	for _, tc := range []struct {
		c    string
		mod  bool
		want string
	}{
		{"0123456789abcdef", false, "0123456789ab"},
		{"0123456789abcdef", true, "0123456789ab+modified"},
		{"abc", false, "abc"},
		{"unknown", true, "unknown+modified"},
	} {
		if got := shortCommit(tc.c, tc.mod); got != tc.want {
			t.Errorf("shortCommit(%q, %v) = %q, want %q", tc.c, tc.mod, got, tc.want)
		}
	}
}
