package redisserver

// RecommendedStreamNodeMaxBytes is the stream-node-max-bytes docs/OPERATIONS.md
// ("Redis requirements") recommends for Herald's Redis. Redis 7 preallocates
// min(stream-node-max-bytes, 4096) bytes for every new listpack node of a stream,
// so under the default 4096 a recipient with one push costs about 4.4 KB; under
// 1024 about 1.3 KB, while a full history costs about 3 % more (herald bench
// redis-memory, bench/RESULTS.md). The test harness runs redis-server with it, so
// that the tests exercise the setting operators are told to use; a node logs at
// start when its Redis keeps the default.
const RecommendedStreamNodeMaxBytes = 1024
