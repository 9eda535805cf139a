package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// defaultNamespace is METRICS_NAMESPACE's default (README, Configuration).
const defaultNamespace = handler.DefaultMetricsNamespace

// The stack's outputs the CLI reads (template.yaml, Outputs).
const (
	outputTable     = "SnapshotTableName"
	outputBus       = "EventBusName"
	outputFunction  = "FunctionName"
	outputNamespace = "MetricsNamespace"
)

// stackVariables are the function's environment variables that the CLI
// reads, and the template parameter each is set from: with --stack they
// come from the deployed stack, not from the terminal's environment. A
// test proves template.yaml sets each variable from its parameter.
var stackVariables = map[string]string{
	"STUCK_MINUTES":     "StuckMinutes",
	"DPU_HOUR_USD":      "DpuHourUsd",
	"RETENTION_DAYS":    "RetentionDays",
	"METRICS_NAMESPACE": "MetricsNamespace",
}

// stack is what a deployed stack tells the CLI.
type stack struct {
	name      string
	outputs   map[string]string
	params    map[string]string
	status    string
	variables map[string]string // environment variables, from outputs and parameters
	// scheduleMinutes is the schedule's period (0: not known from the
	// stack): its ScheduleMinutes parameter, else its ScheduleExpression
	// when that is a rate().
	scheduleMinutes int
}

// cloudFormation is the part of *cloudformation.Client the CLI uses.
type cloudFormation interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// describeStack reads a deployed stack's outputs and parameters
// (DescribeStacks takes a stack's name or its id).
func describeStack(ctx context.Context, cf cloudFormation, name string) (*stack, error) {
	res, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(res.Stacks) == 0 {
		return nil, fmt.Errorf("describe stack %s: no such stack", name)
	}
	s := res.Stacks[0]
	st := &stack{name: name, outputs: map[string]string{}, params: map[string]string{}, variables: map[string]string{}, status: string(s.StackStatus)}
	for _, o := range s.Outputs {
		st.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	for _, p := range s.Parameters {
		v := aws.ToString(p.ParameterValue)
		if p.ResolvedValue != nil {
			v = *p.ResolvedValue
		}
		st.params[aws.ToString(p.ParameterKey)] = v
	}
	table, ok := st.outputs[outputTable]
	if !ok {
		return nil, fmt.Errorf("stack %s (%s) has no output %s: is it a sessionwatch stack, fully created?", name, st.status, outputTable)
	}
	st.variables["SNAPSHOT_TABLE"] = table
	if bus, ok := st.outputs[outputBus]; ok {
		st.variables["EVENT_BUS_NAME"] = bus
	}
	for v, p := range stackVariables {
		if val, ok := st.params[p]; ok {
			st.variables[v] = val
		}
	}
	if ns, ok := st.outputs[outputNamespace]; ok {
		st.variables["METRICS_NAMESPACE"] = ns
	}
	if m, err := strconv.Atoi(st.params["ScheduleMinutes"]); err == nil && m > 0 {
		st.scheduleMinutes = m
	} else {
		st.scheduleMinutes = rateMinutes(st.params["ScheduleExpression"])
	}
	return st, nil
}

// over returns lookup with the stack's values in place of the
// environment's.
func (st *stack) over(lookup handler.Lookup) handler.Lookup {
	return func(k string) (string, bool) {
		if v, ok := st.variables[k]; ok {
			return v, true
		}
		return lookup(k)
	}
}

// stackLookup is lookup with the values of the named stack over it;
// lookup itself when name is empty.
func stackLookup(ctx context.Context, name string, lookup handler.Lookup) (handler.Lookup, error) {
	if name == "" {
		return lookup, nil
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	st, err := describeStack(ctx, cloudformation.NewFromConfig(awsCfg), name)
	if err != nil {
		return nil, err
	}
	return st.over(lookup), nil
}

var rateExpr = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)

// rateMinutes is the period of an EventBridge rate() expression in
// minutes; 0 for anything else (a cron() has no single period).
func rateMinutes(expr string) int {
	m := rateExpr.FindStringSubmatch(expr)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2][0] {
	case 'h':
		n *= 60
	case 'd':
		n *= 24 * 60
	}
	return n
}

// newDynamoDB builds the DynamoDB client of list and status; benchmarks
// put an in-process stand-in in its place.
var newDynamoDB = func(cfg aws.Config) state.DynamoDB { return dynamodb.NewFromConfig(cfg) }

// target is the installation a command looks at.
type target struct {
	aws      aws.Config
	lookup   handler.Lookup // the environment, with the stack's values over it
	stack    *stack         // nil without --stack
	config   handler.Config
	store    *state.Store
	segments int
}

// targetFlags are the flags every command reading the table takes.
type targetFlags struct {
	stack    *string
	segments *int
}

func addTargetFlags(fs *flag.FlagSet) targetFlags {
	return targetFlags{
		stack:    fs.String("stack", "", "read the table, bus, function and settings from this deployed CloudFormation stack (name or id) instead of SNAPSHOT_TABLE and the other variables"),
		segments: fs.Int("segments", state.DefaultSegments, "parallel Scan segments reading the table"),
	}
}

// resolve builds the target the flags and the environment name.
func (tf targetFlags) resolve(ctx context.Context, lookup handler.Lookup) (*target, error) {
	if *tf.segments < 1 || *tf.segments > 1000000 {
		return nil, usageError{fmt.Sprintf("--segments takes 1 to 1000000, got %d", *tf.segments)}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	t := &target{aws: awsCfg, lookup: lookup, segments: *tf.segments}
	if *tf.stack != "" {
		t.stack, err = describeStack(ctx, cloudformation.NewFromConfig(awsCfg), *tf.stack)
		if err != nil {
			return nil, err
		}
		t.lookup = t.stack.over(lookup)
	}
	if t.config, err = handler.ConfigFromEnv(t.lookup); err != nil {
		if *tf.stack == "" {
			return nil, fmt.Errorf("configuration (or give --stack): %w", err)
		}
		return nil, fmt.Errorf("configuration: %w", err)
	}
	t.store = state.NewStore(newDynamoDB(awsCfg), t.config.Table)
	return t, nil
}
