package streams

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/wire"
)

// trimBehind drops the entries of stream that every consumer group has read and
// acknowledged: XTRIM MINID ~ the oldest entry some group still needs.
//
// The order of the reads makes it safe against concurrent readers: a group's
// last-delivered id is taken first, so entries delivered afterwards have higher ids
// and are kept; a group with pending entries keeps from its lowest pending one.
func trimBehind(ctx context.Context, rdb redis.UniversalClient, stream string) error {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil || len(groups) == 0 {
		return err
	}
	var keep wire.Offset
	for i, g := range groups {
		bound := wire.MustOffset(g.LastDeliveredID).Next()
		if g.Pending > 0 {
			sum, err := rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return fmt.Errorf("streams: pending of %s on %s: %w", g.Name, stream, err)
			}
			if sum.Count > 0 {
				bound = wire.MustOffset(sum.Lower)
			}
		}
		if i == 0 || bound.Less(keep) {
			keep = bound
		}
	}
	return rdb.XTrimMinIDApprox(ctx, stream, keep.String(), trimLimit).Err()
}

// trimLimit is how many entries one trim may drop. Without a LIMIT, Redis trims
// at most 100 nodes' worth (10,000 entries) per XTRIM ... ~: a router trimming
// every 5 s then kept up with 2,000 entries/s, and ingress published faster grew
// without bound (1,000,000 entries routed by one node: 910,036 still held after
// the routing was done). This keeps one call to freeing about 10,000 nodes, a
// few milliseconds of Redis, and trims 200,000 entries/s at one trim per 5 s.
const trimLimit = 1_000_000
