package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// history.topics: the same "PATTERN=SIZE[/TTL]" strings from a YAML list, the
// environment and a flag; the first match wins; bad entries are refused at load.
func TestHistoryTopics(t *testing.T) {
	path := writeYAML(t, "history:\n  topics:\n    - \"ticker.*=0\"\n    - \"chat.*=200/6h\"\n")
	c, err := Load([]string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []TopicHistory{{Pattern: "ticker.*", Size: 0}, {Pattern: "chat.*", Size: 200, TTL: 6 * time.Hour}}
	if got := c.History.TopicRules(); !reflect.DeepEqual(got, want) {
		t.Errorf("from YAML: %+v, want %+v", got, want)
	}
	c, err = Load([]string{"--history.topics", "typing.*=0"}, []string{"HERALD_HISTORY__TOPICS=ticker.*=0,chat.*=200/6h"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.History.TopicRules(); len(got) != 1 || got[0].Pattern != "typing.*" {
		t.Errorf("the flag over the environment: %+v", got)
	}
	for _, bad := range []string{"ticker.*", "=5", "ticker.*=-1", "ticker.*=lots", "ticker.*=5/soon", "ticker.*=5/0s", "user.{user}=0", "bad topic=0", "a/b=1"} {
		_, err := Load([]string{"--history.topics", bad}, nil)
		if err == nil || !strings.Contains(err.Error(), "history.topics") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
