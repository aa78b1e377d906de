package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrapeMetrics reads a Prometheus text endpoint and returns each sample's value
// by metric name, summed over its label sets. Histogram buckets are skipped.
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	out := map[string]float64{}
	err := readMetrics(ctx, url, func(line string) {
		if line == "" || line[0] == '#' {
			return
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasSuffix(name, "_bucket") {
			return
		}
		if strings.HasPrefix(rest, "{") {
			if j := strings.LastIndexByte(rest, '}'); j >= 0 {
				rest = rest[j+1:]
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return
		}
		out[name] += v
	})
	return out, err
}

// readMetrics GETs a Prometheus text endpoint and passes it to line, line by line.
func readMetrics(ctx context.Context, url string, line func(string)) error {
	return get(ctx, url, func(body io.Reader) error {
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line(sc.Text())
		}
		return sc.Err()
	})
}

// get GETs url within 5 s and hands a 200 response's body to read.
func get(ctx context.Context, url string, read func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return read(res.Body)
}
