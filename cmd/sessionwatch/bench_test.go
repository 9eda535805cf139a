package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/aws/aws-sdk-go-v2/aws"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/state"
)

var (
	fleetSize     = flag.Int("fleet", 100000, "tracked sessions BenchmarkFleet seeds")
	benchSegments = flag.Int("segments", state.DefaultSegments, "parallel Scan segments of list and status in BenchmarkFleet")
)

// BenchmarkFleet prints how long list and status take over a table of
// -fleet tracked sessions (100,000 by default) in moto, with one event in
// the outbox for every hundredth. The figures are printed, never asserted:
// moto is far slower than DynamoDB (its Scan walks the whole table for
// every page), so they bound what a user waits for from above.
func BenchmarkFleet(b *testing.B) {
	cfg := motoCLI(b)
	atTime(b, fixedNow)
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.NewTable(b, cfg)
	start := time.Now()
	if err := seedLarge(b.Context(), db, table, *fleetSize); err != nil {
		b.Fatal(err)
	}
	seeded := time.Since(start)
	fn := "sessionwatch-bench"
	putRun(b, cloudwatch.NewFromConfig(cfg, motoCloudWatch), defaultNamespace, fn, triggerSchedule, at(2*time.Minute), quietRun())
	env := map[string]string{"SNAPSHOT_TABLE": table}

	var listTime, statusTime time.Duration
	runs := 0
	for b.Loop() {
		t0 := time.Now()
		if err := run(b.Context(), []string{"list", "--segments", fmt.Sprint(*benchSegments)}, lookupOf(env), io.Discard, io.Discard); err != nil {
			b.Fatalf("list: %v", err)
		}
		t1 := time.Now()
		var out strings.Builder
		err := run(b.Context(), []string{"status", "--function", fn, "--segments", fmt.Sprint(*benchSegments)}, lookupOf(env), &out, io.Discard)
		if code := exitCode(err); err != nil && code != exitAttention {
			b.Fatalf("status: %v", err)
		}
		if !strings.Contains(out.String(), fmt.Sprintf("sessions tracked   %d ", *fleetSize)) {
			b.Fatalf("status does not count %d sessions:\n%s", *fleetSize, out.String())
		}
		listTime += t1.Sub(t0)
		statusTime += time.Since(t1)
		runs++
	}
	b.ReportMetric(listTime.Seconds()/float64(runs), "list-s")
	b.ReportMetric(statusTime.Seconds()/float64(runs), "status-s")
	fmt.Printf("BenchmarkFleet: %d tracked sessions in moto (seeded with BatchWriteItem in %s), %d Scan segments: list %s, status %s (mean of %d)\n",
		*fleetSize, seeded.Round(time.Millisecond), *benchSegments, (listTime / time.Duration(runs)).Round(time.Millisecond), (statusTime / time.Duration(runs)).Round(time.Millisecond), runs)
}

// BenchmarkFleetInProcess prints how long list and status take over
// -fleet tracked sessions held by the in-process DynamoDB stand-in
// (internal/fakeaws), one Scan segment (the stand-in has no parallel
// scans), no metrics: what the CLI itself costs (decoding, sorting,
// printing), without moto's slowness or the network.
func BenchmarkFleetInProcess(b *testing.B) {
	for k, v := range map[string]string{"AWS_REGION": awstest.Region, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null"} {
		b.Setenv(k, v)
	}
	atTime(b, fixedNow)
	const table = "bench"
	fake := fakeaws.NewDynamoDB()
	if err := fake.CreateTable(state.Schema(table)); err != nil {
		b.Fatal(err)
	}
	items, err := largeFleet(*fleetSize)
	if err != nil {
		b.Fatal(err)
	}
	for _, item := range items {
		if err := fake.SetItem(table, item); err != nil {
			b.Fatal(err)
		}
	}
	old := newDynamoDB
	newDynamoDB = func(aws.Config) state.DynamoDB { return fake }
	b.Cleanup(func() { newDynamoDB = old })
	env := lookupOf(map[string]string{"SNAPSHOT_TABLE": table})

	var listTime, statusTime, listCPU, statusCPU time.Duration
	runs := 0
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		var out strings.Builder
		if err := run(b.Context(), []string{"list", "--segments", "1"}, env, &out, io.Discard); err != nil {
			b.Fatalf("list: %v", err)
		}
		t1, c1 := time.Now(), cpuTime()
		if n := strings.Count(out.String(), "\n"); n != *fleetSize+2 {
			b.Fatalf("list printed %d lines, want %d", n, *fleetSize+2)
		}
		out.Reset()
		err := run(b.Context(), []string{"status", "--segments", "1"}, env, &out, io.Discard)
		if code := exitCode(err); err != nil && code != exitAttention && code != exitUnknown {
			b.Fatalf("status: %v", err)
		}
		statusTime += time.Since(t1)
		statusCPU += cpuTime() - c1
		listTime += t1.Sub(t0)
		listCPU += c1 - c0
		runs++
		if !strings.Contains(out.String(), fmt.Sprintf("sessions tracked   %d ", *fleetSize)) {
			b.Fatalf("status does not count %d sessions:\n%s", *fleetSize, out.String())
		}
	}
	b.ReportMetric(listTime.Seconds()/float64(runs), "list-s")
	b.ReportMetric(statusTime.Seconds()/float64(runs), "status-s")
	mean := func(d time.Duration) time.Duration { return (d / time.Duration(runs)).Round(time.Millisecond) }
	fmt.Printf("BenchmarkFleetInProcess: %d tracked sessions in internal/fakeaws: list %s (%s of CPU), status %s (%s of CPU) (mean of %d)\n",
		*fleetSize, mean(listTime), mean(listCPU), mean(statusTime), mean(statusCPU), runs)
}

func lookupOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// largeFleet is the items of n watched sessions (a mix of statuses and
// capacities, ids of 40 characters) and an outbox event for every
// hundredth.
func largeFleet(n int) ([]map[string]dbtypes.AttributeValue, error) {
	statuses := []string{"READY", "READY", "READY", "PROVISIONING", "STOPPING"}
	var items []map[string]dbtypes.AttributeValue
	for i := range n {
		created := fixedNow.Add(-time.Duration(i%600) * time.Minute)
		snap := state.Snapshot{
			SessionID: fmt.Sprintf("bench-session-%026d", i), Status: statuses[i%len(statuses)], CreatedOn: &created,
			StatusSince: &created, ObservedAt: created, Sequence: 1, Version: 1, Shelf: state.OnShelf,
			DPU: ptr(float64(1 + i%10)), DPUHours: ptr(0.5),
		}
		item, err := attributevalue.MarshalMap(snap)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
		if i%100 == 0 {
			ev := state.Event{DetailType: "Glue Session State Change", Detail: `{}`, EventID: fmt.Sprintf("bench-%d", i), SessionID: snap.SessionID, Sequence: 1, Time: created}
			item, err := attributevalue.MarshalMap(ev)
			if err != nil {
				return nil, err
			}
			item[state.KeyAttribute] = &dbtypes.AttributeValueMemberS{Value: state.OutboxPrefix + ev.EventID}
			item[state.ShelfAttribute] = &dbtypes.AttributeValueMemberS{Value: state.OnShelf}
			items = append(items, item)
		}
	}
	return items, nil
}

// seedLarge writes largeFleet(n) with BatchWriteItem, 25 items a call and
// 8 calls in flight.
func seedLarge(ctx context.Context, db *dynamodb.Client, table string, n int) error {
	items, err := largeFleet(n)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for chunk := range slices.Chunk(items, 25) {
		g.Go(func() error {
			reqs := make([]dbtypes.WriteRequest, len(chunk))
			for i, item := range chunk {
				reqs[i] = dbtypes.WriteRequest{PutRequest: &dbtypes.PutRequest{Item: item}}
			}
			pending := map[string][]dbtypes.WriteRequest{table: reqs}
			for len(pending) > 0 {
				res, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
				if err != nil {
					return fmt.Errorf("seed %s: %w", table, err)
				}
				pending = res.UnprocessedItems
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return nil
}
