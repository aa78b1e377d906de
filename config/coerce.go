package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// coerce converts raw, as a YAML parser, the environment or pflag produced
// it, to the Go type of def. Strings parse (the environment has nothing
// else); other mismatches are refused rather than guessed, so `ttl: 60` or an
// unquoted numeric password never silently mean something else. Messages
// quote the raw value only for types that are never secret.
func coerce(def, raw any) (any, error) {
	switch def.(type) {
	case string:
		return toString(raw)
	case int:
		return toInt(raw)
	case bool:
		return toBool(raw)
	case time.Duration:
		return toDuration(raw)
	case []string:
		return toList(raw)
	case []Issuer:
		return toIssuers(raw)
	}
	return nil, fmt.Errorf("unsupported key type %T", def)
}

func toString(raw any) (any, error) {
	if s, ok := raw.(string); ok {
		return s, nil
	}
	return nil, fmt.Errorf("want a string, got %s (quote it)", kind(raw))
}

func toInt(raw any) (any, error) {
	switch v := raw.(type) {
	case int:
		return v, nil
	case int64:
		if v >= math.MinInt && v <= math.MaxInt {
			return int(v), nil
		}
	case uint64:
		if v <= math.MaxInt {
			return int(v), nil
		}
	case float64:
		if v == math.Trunc(v) && v >= math.MinInt && v <= math.MaxInt {
			return int(v), nil
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q as an integer", v)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("want an integer, got %s", kind(raw))
	}
	return nil, fmt.Errorf("%v is not an integer in range", raw)
}

func toBool(raw any) (any, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q as true or false", v)
		}
		return b, nil
	}
	return nil, fmt.Errorf("want true or false, got %s", kind(raw))
}

func toDuration(raw any) (any, error) {
	switch v := raw.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q as a duration such as 30s or 24h", v)
		}
		return d, nil
	}
	return nil, fmt.Errorf("want a duration with a unit such as 30s, got %s", kind(raw))
}

// toList accepts a YAML sequence or one comma-separated string. Blank items
// are dropped so that "a, b," and an empty variable behave as expected.
func toList(raw any) (any, error) {
	var items []string
	switch v := raw.(type) {
	case nil:
	case []string:
		items = v
	case string:
		items = strings.Split(v, ",")
	case []any:
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %s (quote it)", i+1, kind(x))
			}
			items = append(items, s)
		}
	default:
		return nil, fmt.Errorf("want a list or a comma-separated string, got %s", kind(raw))
	}
	out := []string{}
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// kind names a raw value's type the way a YAML author thinks of it.
func kind(raw any) string {
	switch raw.(type) {
	case nil:
		return "no value"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", raw)
}
