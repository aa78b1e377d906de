package streams

// NeedsReload is needsReload, for the table test.
var NeedsReload = needsReload
