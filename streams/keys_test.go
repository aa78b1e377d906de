package streams_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// hashTag is the part of key Redis Cluster hashes: the content of the first {...}
// when non-empty, else the whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

func TestKeysNames(t *testing.T) {
	t.Parallel()
	k := streams.NewKeys("herald", 1)
	tests := []struct{ got, want string }{
		{k.Ingress(0), "herald:in"}, // the documented publish key
		{k.IngressFor(wire.User("alice")), "herald:in"},
		{k.IngressFor(wire.Topic("news")), "herald:in"},
		{k.DeadLetters(), "herald:dlq"},
		{k.History(wire.User("alice")), "herald:{u:alice}:h"},
		{k.Presence(wire.User("alice")), "herald:{u:alice}:p"},
		{k.Cursors("alice"), "herald:{u:alice}:c"},
		{k.History(wire.Topic("news")), "herald:{t:news}:h"},
		{k.Presence(wire.Topic("news")), "herald:{t:news}:p"},
		{k.Inbox("node-1"), "herald:{n:node-1}:in"},
		{k.Upstream(), "herald:up"},
		{k.PresenceEvents(), "herald:presence"},
		{k.Undelivered(), "herald:undelivered"},
		{k.Acked("alice"), "herald:{u:alice}:a"},
		{k.PushMarks("alice", "m{1}"), "herald:{u:alice}:pn:m{1}"},
		{k.PushRate("alice"), "herald:{u:alice}:pr"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("key %q, want %q", tt.got, tt.want)
		}
	}
	if k.Partitions() != 1 {
		t.Errorf("Partitions() = %d, want 1", k.Partitions())
	}
	// With one partition "herald:in" has no hash tag; its lease takes the stream's
	// whole name as its tag, so that both share a slot (the fenced acknowledgement
	// reads the lease and acknowledges in one script).
	if k.Lease(0) != "herald:{herald:in}:lease" {
		t.Errorf("Lease(0) = %q", k.Lease(0))
	}
	if crc16xmodem(hashTag(k.Lease(0))) != crc16xmodem(hashTag(k.Ingress(0))) {
		t.Errorf("Lease(0) %q and Ingress(0) %q are in different slots", k.Lease(0), k.Ingress(0))
	}
}

func TestKeysPrefix(t *testing.T) {
	t.Parallel()
	k := streams.NewKeys("acme", 1)
	for _, key := range []string{k.Ingress(0), k.DeadLetters(), k.History(wire.User("a")), k.Presence(wire.Topic("t")), k.Cursors("a"), k.Inbox("n"), k.Upstream(), k.Lease(0)} {
		if !strings.HasPrefix(key, "acme:") {
			t.Errorf("key %q lacks the prefix", key)
		}
	}
	if k.Ingress(0) != "acme:in" {
		t.Errorf("Ingress = %q, want acme:in", k.Ingress(0))
	}
}

// History, presence and cursors of one recipient share its hash tag, so they sit in
// one Redis Cluster slot; different recipients get different tags.
func TestKeysHashTags(t *testing.T) {
	t.Parallel()
	k := streams.NewKeys("herald", 1)
	for _, user := range []string{"alice", "a:b", "x@y.z", "u_1-2.3", strings.Repeat("q", 128)} {
		t.Run(user, func(t *testing.T) {
			r := wire.User(user)
			want := "u:" + user
			for _, key := range []string{k.History(r), k.Presence(r), k.Cursors(user), k.Acked(user), k.PushMarks(user, "{id}"), k.PushRate(user), k.PushTargets(user)} {
				if got := hashTag(key); got != want {
					t.Fatalf("hash tag of %q = %q, want %q", key, got, want)
				}
			}
			if hashTag(k.History(wire.Topic(user))) == want {
				t.Fatalf("topic %q shares the user's tag", user)
			}
		})
	}
	if hashTag(k.History(wire.User("alice"))) == hashTag(k.History(wire.User("bob"))) {
		t.Fatal("two users share a hash tag")
	}
	if got := hashTag(k.Inbox("n1")); got != "n:n1" {
		t.Fatalf("inbox tag %q", got)
	}
}

func TestKeysPartitions(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 0, 1} {
		k := streams.NewKeys("herald", n)
		if k.Partitions() != 1 || k.Ingress(0) != "herald:in" || k.Partition(wire.User("x")) != 0 {
			t.Errorf("NewKeys(%d): %d partitions, ingress %q", n, k.Partitions(), k.Ingress(0))
		}
	}
	for _, n := range []int{2, 3, 8, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			k := streams.NewKeys("herald", n)
			if k.Partitions() != n {
				t.Fatalf("Partitions() = %d", k.Partitions())
			}
			seen := map[string]bool{}
			tags := map[string]bool{}
			for p := 0; p < n; p++ {
				key := k.Ingress(p)
				if !strings.HasPrefix(key, "herald:in:{") {
					t.Fatalf("Ingress(%d) = %q", p, key)
				}
				// Partition p sits in its share of the cluster slots, so partitions
				// spread evenly over evenly assigned masters.
				if slot := int(crc16xmodem(hashTag(key)) % 16384); slot < p*16384/n || slot >= (p+1)*16384/n {
					t.Fatalf("Ingress(%d) = %q in slot %d, outside its share", p, key, slot)
				}
				if seen[key] || key == "herald:in" {
					t.Fatalf("Ingress(%d) = %q is not distinct", p, key)
				}
				seen[key] = true
				tags[hashTag(key)] = true
				if hashTag(k.Lease(p)) != hashTag(key) {
					t.Fatalf("lease %q not in the slot of %q", k.Lease(p), key)
				}
			}
			if len(tags) != n {
				t.Fatalf("%d partitions share hash tags: %v", n, tags)
			}
			used := make([]int, n)
			for i := 0; i < 2000; i++ {
				for _, r := range []wire.Recipient{wire.User(fmt.Sprint("user", i)), wire.Topic(fmt.Sprint("topic", i))} {
					p := k.Partition(r)
					if p < 0 || p >= n {
						t.Fatalf("Partition(%v) = %d out of [0,%d)", r, p, n)
					}
					if again := k.Partition(r); again != p {
						t.Fatalf("Partition(%v) not deterministic: %d then %d", r, p, again)
					}
					if want := int(fnv1a32(r.String()) % uint32(n)); p != want {
						t.Fatalf("Partition(%v) = %d, want FNV-1a(%q) %% %d = %d (the documented function)", r, p, r.String(), n, want)
					}
					if k.IngressFor(r) != k.Ingress(p) {
						t.Fatalf("IngressFor(%v) = %q, want %q", r, k.IngressFor(r), k.Ingress(p))
					}
					used[p]++
				}
			}
			for p, c := range used {
				if c == 0 {
					t.Fatalf("partition %d never used over 4000 recipients: %v", p, used)
				}
			}
		})
	}
	// A user and a topic of the same name are different recipients.
	k := streams.NewKeys("herald", 16)
	same := 0
	for i := 0; i < 100; i++ {
		if k.Partition(wire.User(fmt.Sprint("n", i))) == k.Partition(wire.Topic(fmt.Sprint("n", i))) {
			same++
		}
	}
	if same == 100 {
		t.Fatal("the kind does not enter the partition hash")
	}
}

// fnv1a32 is FNV-1a, 32 bit, written out as a publisher in another language would.
func fnv1a32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// crc16xmodem is Redis Cluster's key hash, written out independently of the code.
func crc16xmodem(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func TestCRC16MatchesRedis(t *testing.T) {
	// Slots measured on a real cluster (research/deps.md): {push} -> 297.
	if got := crc16xmodem("push") % 16384; got != 297 {
		t.Fatalf("slot(push) = %d, want 297", got)
	}
}

// The server API's keys: the documented control stream, per-recipient details
// under the recipient's tag, and the dead-letter marker in the dead-letter
// stream's slot (one script writes both).
func TestServerAPIKeys(t *testing.T) {
	t.Parallel()
	k := streams.NewKeys("herald", 1)
	if k.Control() != "herald:ctl" || k.Revoked() != "herald:revoked" || k.NodeSessions() != "herald:nodes:sessions" {
		t.Fatalf("control %q, revoked %q, node sessions %q", k.Control(), k.Revoked(), k.NodeSessions())
	}
	if hashTag(k.SessionDetails("alice")) != "u:alice" || hashTag(k.Subscribers("news")) != "t:news" {
		t.Fatalf("details %q, subscribers %q", k.SessionDetails("alice"), k.Subscribers("news"))
	}
	marker := k.ControlDeadLettered("1-0")
	if !strings.HasPrefix(marker, "herald:") || crc16xmodem(hashTag(marker)) != crc16xmodem(hashTag(k.DeadLetters())) {
		t.Fatalf("marker %q is not in the slot of %q", marker, k.DeadLetters())
	}
}
