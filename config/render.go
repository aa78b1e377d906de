package config

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// YAML renders c as a configuration file, for `herald config`. Secrets are
// always masked: the output is meant for terminals, logs and bug reports.
// Durations read like "24h" so the output loads back unchanged.
func (c Config) YAML() ([]byte, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(flatten(c.Masked()), "."), nil); err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	out, err := k.Marshal(yaml.Parser())
	if err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	return out, nil
}

// flatten maps every leaf of c to its dotted koanf path.
func flatten(c Config) map[string]any {
	out := map[string]any{}
	walk(reflect.ValueOf(c), "", func(key string, v reflect.Value) {
		out[key] = plain(v.Interface())
	})
	return out
}

// walk calls leaf for every non-struct field, naming it by its koanf tags.
func walk(v reflect.Value, prefix string, leaf func(key string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		key := prefix + t.Field(i).Tag.Get("koanf")
		if f := v.Field(i); f.Kind() == reflect.Struct {
			walk(f, key+".", leaf)
		} else {
			leaf(key, f)
		}
	}
}

// plain turns values into what a YAML encoder writes the way people do.
func plain(v any) any {
	switch x := v.(type) {
	case time.Duration:
		return formatDuration(x)
	case []string:
		if x == nil {
			return []string{}
		}
		return slices.Clone(x)
	case []Issuer:
		return issuersYAML(x)
	}
	return v
}
