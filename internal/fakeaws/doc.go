// Package fakeaws provides in-process stand-ins for the DynamoDB and
// EventBridge APIs that sessionwatch calls, for the offline demo,
// benchmarks and fast tests. Integration tests use moto instead (see
// internal/awstest).
//
// [DynamoDB] implements state.DynamoDB over tables held in memory, global
// secondary indexes included, and [EventBridge] implements
// handler.EventBridge by recording the entries it accepts. Both enforce the
// service limits sessionwatch must respect (100 keys a BatchGetItem, 400 KB
// an item, 1 MB a Query or Scan page, 10 entries and 256 KiB a PutEvents
// request), count their calls by operation, can wait a fixed latency before
// answering, and take hooks that inject faults. Requests they do not
// support (an expression of another shape, a projection) fail with an error
// saying so, rather than being answered wrongly.
//
// The hook and latency fields are read by every call: set them before the
// calls they should affect, not while calls are in flight. Everything else
// is safe for concurrent use.
package fakeaws
