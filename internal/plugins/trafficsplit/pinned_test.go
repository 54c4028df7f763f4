package trafficsplit

// Buckets of "user-42" under the rule for service "canary" (salt "canary").
const (
	fnvBucket = 8583
	xxBucket  = 8831
)
