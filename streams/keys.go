package streams

import (
	"hash/fnv"
	"strconv"

	"github.com/herald-push/herald/wire"
)

// Consumer group names.
const (
	groupRouter = "router" // on every ingress partition
	groupNode   = "node"   // on every node inbox
	groupPush   = "push"   // the push-notification fallback, on herald:undelivered
)

// Keys builds every Redis key Herald uses, in one place. Keys of one recipient share
// the hash tag {u:<id>} or {t:<name>} so that its history, presence and cursors sit in
// one Redis Cluster slot and can be used together in a pipeline or script.
type Keys struct {
	prefix     string
	partitions int
	tags       []string // hash tag of each ingress partition
}

// NewKeys returns the key builder for prefix (default "herald") and the number of
// ingress partitions.
func NewKeys(prefix string, partitions int) Keys {
	if partitions < 1 {
		partitions = 1
	}
	return Keys{prefix: prefix, partitions: partitions, tags: partitionTags(partitions)}
}

// partitionTags picks for partition p of n the hash tag "p" or, when that slot is
// outside p's share of the 16384 Redis Cluster slots, the first "p.k" inside it. The
// partitions then spread evenly over the masters of a cluster whose slots were
// assigned evenly (as redis-cli --cluster create does), instead of where CRC16 of
// small numbers happens to fall.
func partitionTags(n int) []string {
	tags := make([]string, n)
	for p := range tags {
		lo, hi := p*clusterSlots/n, (p+1)*clusterSlots/n
		tag := strconv.Itoa(p)
		for k := 0; ; k++ {
			if s := int(crc16([]byte(tag)) % clusterSlots); s >= lo && s < hi {
				break
			}
			tag = strconv.Itoa(p) + "." + strconv.Itoa(k)
		}
		tags[p] = tag
	}
	return tags
}

const clusterSlots = 16384

// crc16 is CRC-16/XMODEM, the function Redis Cluster maps keys to slots with.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Partitions is the number of ingress partitions.
func (k Keys) Partitions() int { return k.partitions }

// Ingress is the stream publishers append to for partition p. With one partition it
// is the documented "herald:in"; with more, "herald:in:{<tag>}" with the tag of
// partitionTags (`herald config --partitions` lists them).
func (k Keys) Ingress(p int) string {
	if k.partitions == 1 {
		return k.prefix + ":in"
	}
	return k.prefix + ":in:{" + k.tags[p] + "}"
}

// IngressFor is the ingress stream that carries pushes for r.
func (k Keys) IngressFor(r wire.Recipient) string { return k.Ingress(k.Partition(r)) }

// Partition maps a recipient to its ingress partition: FNV-1a (32 bit) of
// "u:<id>" or "t:<name>", modulo the partition count. Publishers that use more than
// one partition must use the same function (documented in docs/OPERATIONS.md §4).
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
//
// It shares the partition stream's hash slot, so that a router's acknowledgement
// can check the lease in the same script (fencedAckScript) on Redis Cluster too:
// "herald:in:{<tag>}:lease" with partitions, and with one partition
// "herald:{herald:in}:lease" (the unbraced "herald:in" hashes its whole name; the
// key keeps the prefix, so ACL key patterns like ~herald:* cover it).
func (k Keys) Lease(p int) string {
	if k.partitions == 1 {
		return k.prefix + ":{" + k.Ingress(p) + "}:lease"
	}
	return k.Ingress(p) + ":lease"
}

// DeadLetters is the stream of entries Herald could not deliver, with their reason.
func (k Keys) DeadLetters() string { return k.prefix + ":dlq" }

// History is recipient r's capped history stream; its entry ids are client offsets.
func (k Keys) History(r wire.Recipient) string { return k.tagged(r) + ":h" }

// Presence is the set of node ids hosting sessions of r.
func (k Keys) Presence(r wire.Recipient) string { return k.tagged(r) + ":p" }

// Cursors is user's hash of device -> last acked offset.
func (k Keys) Cursors(user string) string { return k.tagged(wire.User(user)) + ":c" }

// PushTargets is the hash of a user's push-notification targets, one field per
// device and kind.
func (k Keys) PushTargets(user string) string { return k.tagged(wire.User(user)) + ":pt" }

// PushMarks is the hash of what the push-notification fallback settled for one
// push of user: a field per target ("<device>|<kind>") once notified or given
// up, and "admitted" once the push passed the rate limit. It expires a day
// after its last write (PushLedger).
func (k Keys) PushMarks(user, pushID string) string {
	return k.tagged(wire.User(user)) + ":pn:" + pushID
}

// PushRate counts the pushes of user the fallback admitted in the current
// rate-limit window.
func (k Keys) PushRate(user string) string { return k.tagged(wire.User(user)) + ":pr" }

// Inbox is node id's inbox stream, the live path from routers to that node.
func (k Keys) Inbox(node string) string { return k.prefix + ":{n:" + node + "}:in" }

// Online marks a user announced online in herald:presence; it outlives the user's
// last session by the debounce, so a quick reconnect is neither offline nor online.
func (k Keys) Online(user string) string { return k.tagged(wire.User(user)) + ":o" }

// Sessions is user's hash of node id -> open sessions, for the per-user limit.
func (k Keys) Sessions(user string) string { return k.tagged(wire.User(user)) + ":s" }

// AckWait is user's sorted set of pushes (offsets) waiting for an ack, scored by
// the time they count as undelivered.
func (k Keys) AckWait(user string) string { return k.tagged(wire.User(user)) + ":w" }

// Acked is the newest offset any session of user acked (only with
// delivery.ack_timeout): the push-notification fallback skips a push at or
// before it.
func (k Keys) Acked(user string) string { return k.tagged(wire.User(user)) + ":a" }

// AckDue indexes the users with pushes waiting for an ack, scored by the earliest
// deadline.
func (k Keys) AckDue() string { return k.prefix + ":ackwait" }

// Nodes is the sorted set of node ids scored by their last heartbeat (unix ms).
func (k Keys) Nodes() string { return k.prefix + ":nodes" }

// NodeRecipients is the set of recipients node lists itself under, so that the
// nodes that find it dead can take it out of their presence.
func (k Keys) NodeRecipients(node string) string { return k.prefix + ":{n:" + node + "}:r" }

// Reaping is the lock one node holds while cleaning up after a dead node.
func (k Keys) Reaping(node string) string { return k.prefix + ":{n:" + node + "}:reap" }

// OfflinePending holds users whose last session closed, scored by when they are
// announced offline unless back by then.
func (k Keys) OfflinePending() string { return k.prefix + ":presence:pending" }

// Upstream is the stream of client send frames for the product's backend.
func (k Keys) Upstream() string { return k.prefix + ":up" }

// PresenceEvents is the stream of user online/offline events.
func (k Keys) PresenceEvents() string { return k.prefix + ":presence" }

// Undelivered is the stream of user pushes no device acked in time.
func (k Keys) Undelivered() string { return k.prefix + ":undelivered" }

// Control is the control stream: disconnect and revoke operations every node acts on.
func (k Keys) Control() string { return k.prefix + ":ctl" }

// Revoked is the sorted set of revocations ("jti:<jti>", "user:<user>:<issued
// before>"), scored by when they may be forgotten (unix ms).
func (k Keys) Revoked() string { return k.prefix + ":revoked" }

// ControlDeadLettered marks control entry id as dead-lettered, so that of the
// nodes that all read it one stores it. It shares the dead-letter stream's slot:
// one script sets it and appends there.
func (k Keys) ControlDeadLettered(id string) string {
	return k.prefix + ":{" + k.DeadLetters() + "}:ctl:" + id
}

// SessionDetails is user's hash of session id -> "<node>|<device>|<since ms>",
// for the presence query.
func (k Keys) SessionDetails(user string) string { return k.tagged(wire.User(user)) + ":d" }

// Subscribers is topic's hash of node id -> local subscriber count.
func (k Keys) Subscribers(topic string) string { return k.tagged(wire.Topic(topic)) + ":n" }

// NodeSessions is the hash of node id -> open sessions, written with the heartbeat.
func (k Keys) NodeSessions() string { return k.prefix + ":nodes:sessions" }

func (k Keys) tagged(r wire.Recipient) string {
	return k.prefix + ":{" + string(r.Kind) + ":" + r.Name + "}"
}
