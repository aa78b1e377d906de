package bench

import (
	"bufio"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	Hostname       string `json:"hostname"`
	CPUModel       string `json:"cpu_model"`
	Cores          int    `json:"cores"`
	RAMBytes       uint64 `json:"ram_bytes"`
	Kernel         string `json:"kernel"`
	OS             string `json:"os"`
	GoVersion      string `json:"go_version"`
	RedisVersion   string `json:"redis_version"`
	HeraldCommit   string `json:"herald_commit"`
	HeraldModified bool   `json:"herald_modified"`
	// CommitSource says where HeraldCommit comes from: the binary's build info, or
	// git in the working directory when the binary has none (built with
	// -buildvcs=false); then the binary may have been built from another tree.
	CommitSource string     `json:"herald_commit_source"`
	HeraldBinary string     `json:"herald_binary"`
	HeraldSHA256 string     `json:"herald_binary_sha256"`
	FDLimit      uint64     `json:"fd_limit"`
	LoadAvg      [3]float64 `json:"loadavg_at_start"`
}

// machineInfo collects the machine's description; heraldBin is the binary the nodes
// run (its build info names the commit).
func machineInfo(heraldBin string) Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(),
		LoadAvg:   loadAvg(),
	}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if kv := readKV("/proc/meminfo"); kv["MemTotal"] != "" {
		f := strings.Fields(kv["MemTotal"])
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			m.RAMBytes = n * 1024
		}
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.FDLimit = rl.Cur
	}
	m.HeraldCommit, m.HeraldModified, m.CommitSource = heraldCommit(heraldBin)
	m.HeraldBinary = heraldBin
	if f, err := os.Open(heraldBin); err == nil {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			m.HeraldSHA256 = hex.EncodeToString(h.Sum(nil))
		}
		f.Close()
	}
	return m
}

// heraldCommit reads the VCS revision from the binary's build info, else asks git.
func heraldCommit(bin string) (commit string, modified bool, source string) {
	if bin != "" {
		if bi, err := buildinfo.ReadFile(bin); err == nil {
			rev, modified := "", false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" {
				return rev, modified, "build info of the binary"
			}
		}
	}
	for _, dir := range []string{".", filepath.Dir(bin)} {
		out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
		if err != nil {
			continue
		}
		st, _ := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
		return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(st))) > 0,
			"git HEAD of " + dir + " at run time (the binary has no build info; it may come from another tree)"
	}
	return "unknown", false, ""
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute load.
func loadAvg() [3]float64 {
	var la [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		la[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return la
}

// readKV reads a "Key: value" file such as /proc/meminfo or /proc/<pid>/status.
func readKV(path string) map[string]string {
	kv := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return kv
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}

// procRSS is VmRSS of pid in bytes.
func procRSS(pid int) (float64, bool) {
	v := readKV("/proc/" + strconv.Itoa(pid) + "/status")["VmRSS"]
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, false
	}
	return n * 1024, true
}

// procCPU is utime+stime of pid in seconds.
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(0) ppid ... utime is field 14 of the whole line,
	// i.e. index 11 here, stime index 12.
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ut + st) / clockTicks, true
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// hostSample is the machine's CPU time from /proc/stat, to tell how much of the
// wall time the host (the hypervisor) took from this machine's cores.
type hostSample struct {
	at        time.Time
	accounted float64 // seconds of all kinds, over all cores, steal excluded
	steal     float64 // seconds the kernel knows it was not running
	cores     int
	ok        bool
}

func readHost() hostSample {
	s := hostSample{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, rest, _ := strings.Cut(string(b), "\n")
	// The cores the "cpu" line sums over, whatever this process's affinity allows.
	for l := range strings.Lines(rest) {
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			s.cores++
		}
	}
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	// user nice system idle iowait irq softirq steal (guest time is inside user).
	for i := 1; i <= 8; i++ {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return s
		}
		if i == 8 {
			s.steal = v / clockTicks
		} else {
			s.accounted += v / clockTicks
		}
	}
	s.ok = s.cores > 0
	return s
}

// hostTakenPct is the CPU time the host took from this machine between a and b, in
// % of one core: the steal the kernel reports, plus wall time on every core that the
// kernel accounted to nothing (hypervisors that do not report steal, such as
// Firecracker's, show it only so). Noise from other tenants of the host: runs with
// much of it are not comparable with quiet ones.
func hostTakenPct(a, b hostSample) (float64, bool) {
	if !a.ok || !b.ok {
		return 0, false
	}
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0, false
	}
	missing := wall*float64(b.cores) - (b.accounted - a.accounted) - (b.steal - a.steal)
	taken := max(missing, 0) + (b.steal - a.steal)
	return taken / wall * 100, true
}
