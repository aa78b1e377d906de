// Package streams owns every Redis key and command of Herald: the ingress consumer
// group and its router, node inboxes, history streams, device cursors, presence,
// reclaim and dead letters.
package streams

import (
	"hash/fnv"
	"strconv"

	"github.com/herald-push/herald/gateway/wire"
)

// Consumer group names.
const (
	groupRouter = "router" // on every ingress partition
	groupNode   = "node"   // on every node inbox
)

// Keys builds every Redis key Herald uses, in one place. Keys of one recipient share
// the hash tag {u:<id>} or {t:<name>} so that its history, presence and cursors sit in
// one Redis Cluster slot and can be used together in a pipeline or script.
type Keys struct {
	prefix     string
	partitions int
}

// NewKeys returns the key builder for prefix (default "herald") and the number of
// ingress partitions.
func NewKeys(prefix string, partitions int) Keys {
	if partitions < 1 {
		partitions = 1
	}
	return Keys{prefix: prefix, partitions: partitions}
}

// Partitions is the number of ingress partitions.
func (k Keys) Partitions() int { return k.partitions }

// Ingress is the stream publishers append to for partition p. With one partition it
// is the documented "herald:in"; with more, "herald:in:{p}".
func (k Keys) Ingress(p int) string {
	if k.partitions == 1 {
		return k.prefix + ":in"
	}
	return k.prefix + ":in:{" + strconv.Itoa(p) + "}"
}

// IngressFor is the ingress stream that carries pushes for r.
func (k Keys) IngressFor(r wire.Recipient) string { return k.Ingress(k.Partition(r)) }

// Partition maps a recipient to its ingress partition: FNV-1a (32 bit) of
// "u:<id>" or "t:<name>", modulo the partition count. Publishers that use more than
// one partition must use the same function (documented in README.md).
func (k Keys) Partition(r wire.Recipient) int {
	if k.partitions == 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.String()))
	return int(h.Sum32() % uint32(k.partitions))
}

// Lease is the key whose holder is the one router of partition p. It shares the
// partition's hash tag.
func (k Keys) Lease(p int) string { return k.Ingress(p) + ":lease" }

// DeadLetters is the stream of entries Herald could not deliver, with their reason.
func (k Keys) DeadLetters() string { return k.prefix + ":dlq" }

// History is recipient r's capped history stream; its entry ids are client offsets.
func (k Keys) History(r wire.Recipient) string { return k.tagged(r) + ":h" }

// Presence is the set of node ids hosting sessions of r.
func (k Keys) Presence(r wire.Recipient) string { return k.tagged(r) + ":p" }

// Cursors is user's hash of device -> last acked offset.
func (k Keys) Cursors(user string) string { return k.tagged(wire.User(user)) + ":c" }

// Inbox is node id's inbox stream, the live path from routers to that node.
func (k Keys) Inbox(node string) string { return k.prefix + ":{n:" + node + "}:in" }

// Upstream is the stream of client send frames for the product's backend.
func (k Keys) Upstream() string { return k.prefix + ":up" }

// PresenceEvents is the stream of user online/offline events.
func (k Keys) PresenceEvents() string { return k.prefix + ":presence" }

// Undelivered is the stream of user pushes no device acked in time.
func (k Keys) Undelivered() string { return k.prefix + ":undelivered" }

func (k Keys) tagged(r wire.Recipient) string {
	return k.prefix + ":{" + string(r.Kind) + ":" + r.Name + "}"
}
