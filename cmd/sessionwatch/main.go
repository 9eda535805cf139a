// Command sessionwatch runs sessionwatch from a terminal: one poll, the
// registry of tracked sessions, and an offline demo. It reads the same
// environment variables as the Lambda function and uses the standard AWS
// credential chain.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"sessionwatch/handler"
	"sessionwatch/internal/wiring"
)

const usage = `sessionwatch watches AWS Glue interactive sessions and publishes their
changes to Amazon EventBridge.

Usage:
  sessionwatch <command> [flags]

Commands:
  poll      run one poll and print its summary as JSON
  track     add session ids to the registry of watched sessions
  untrack   remove session ids from the registry
  list      list the watched sessions, the costly and stuck ones first
  status    print the installation's health; exit 1 when it needs attention
  demo      run the real handler against in-process stand-ins (no AWS)

Configuration comes from the same environment variables as the Lambda
function (SNAPSHOT_TABLE is required for all but demo), or, for list,
status, track and untrack, from a deployed stack (--stack NAME); AWS
credentials, region and endpoints from the standard AWS chain.
Run 'sessionwatch <command> --help' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sessionwatch:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var usageErr usageError
	if errors.As(err, &usageErr) {
		return 2
	}
	var health healthError
	if errors.As(err, &health) {
		return health.code
	}
	return 1
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, lookup handler.Lookup, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "demo":
		fs := newFlags("demo", "Runs the real handler through scripted session lifecycles against an\nin-process Glue emulator, DynamoDB and EventBridge, printing each run.", stderr)
		asJSON := fs.Bool("json", false, "print only the published events as JSON lines")
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		return demo(ctx, stdout, *asJSON)
	case "poll":
		fs := newFlags("poll", "Runs one poll, publishing events and saving snapshots, and prints the result.", stderr)
		dryRun := fs.Bool("dry-run", false, "compute and print the events without publishing or writing anything")
		ids := fs.String("session-ids", "", "comma-separated session ids to watch in this run only (read as SESSION_IDS is)")
		discover := fs.String("discover", "", "true or false: override DISCOVER for this run")
		tags := fs.String("tags", "", "k=v,k2=v2: discover with this filter for this run (in place of DISCOVER_TAGS, whatever DISCOVER says)")
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		req, err := pollRequest(*dryRun, *ids, *discover, *tags)
		if err != nil {
			return usageError{err.Error()}
		}
		app, err := wiring.FromEnv(ctx, lookup, logger(stderr))
		if err != nil {
			return err
		}
		res, err := app.Handler.Poll(ctx, req)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "track", "untrack":
		fs := newFlags(cmd+" ID...", fmt.Sprintf("%ss session ids in the registry kept in SNAPSHOT_TABLE. Ids are read as\nSESSION_IDS is: an argument may hold several, separated by commas; blanks\naround an id, empty items and repeats are dropped.", strings.ToUpper(cmd[:1])+cmd[1:]), stderr)
		stackName := fs.String("stack", "", "the table of this deployed CloudFormation stack (name or id) instead of SNAPSHOT_TABLE")
		from := fs.String("from", "", "also read ids from this file (- for standard input), one or more a line, for more ids than a command line holds")
		if err := parse(fs, args, anyArgs); err != nil {
			return err
		}
		lists := fs.Args()
		if *from != "" {
			text, err := readIDs(*from, stdin)
			if err != nil {
				return err
			}
			lists = append(lists, strings.ReplaceAll(text, "\n", ","))
		}
		ids, err := handler.ParseSessionIDs(lists...)
		if err != nil {
			return usageError{err.Error()}
		}
		if len(ids) == 0 {
			return usageError{fmt.Sprintf("%s needs at least 1 session id", cmd)}
		}
		if lookup, err = stackLookup(ctx, *stackName, lookup); err != nil {
			return err
		}
		app, err := wiring.FromEnv(ctx, lookup, logger(stderr))
		if err != nil {
			return err
		}
		// In batches, saying how far it got: every write can be repeated,
		// so after a failure the same command picks up where it stopped.
		expires := time.Now().Add(time.Duration(app.Config.RetentionDays) * 24 * time.Hour).Unix()
		done := 0
		for batch := range slices.Chunk(ids, cliBatch) {
			if cmd == "track" {
				err = app.Store.Track(ctx, batch)
			} else {
				err = app.Store.Untrack(ctx, batch, expires)
			}
			if err != nil {
				return fmt.Errorf("%sed %d of %d session(s), then: %w", cmd, done, len(ids), err)
			}
			done += len(batch)
			if len(ids) > cliBatch {
				fmt.Fprintf(stderr, "%sed %d of %d\n", cmd, done, len(ids))
			}
		}
		fmt.Fprintf(stdout, "%sed %d session(s)\n", cmd, len(ids))
		return nil
	case "list":
		return listCmd(ctx, args, lookup, stdout, stderr)
	case "status":
		return statusCmd(ctx, args, lookup, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

func newFlags(name, doc string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sessionwatch %s [flags]\n\n%s\n", name, doc)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses flags and checks the count of positional arguments: exactly
// zero when minArgs is 0, at least minArgs otherwise.
// anyArgs is parse's minArgs for a command whose arguments may all come
// from elsewhere (track --from).
const anyArgs = -1

func parse(fs *flag.FlagSet, args []string, minArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	switch {
	case minArgs == 0 && fs.NArg() > 0:
		return usageError{fmt.Sprintf("%s takes no arguments, got %q", fs.Name(), fs.Args())}
	case fs.NArg() < minArgs:
		return usageError{fmt.Sprintf("%s needs at least %d session id", fs.Name(), minArgs)}
	}
	return nil
}

// pollRequest builds the request the poll flags describe, through the same
// parser the Lambda uses.
func pollRequest(dryRun bool, ids, discover, tags string) (handler.Request, error) {
	req := map[string]any{}
	if dryRun {
		req["dryRun"] = true
	}
	list, err := handler.ParseSessionIDs(ids)
	if err != nil {
		return handler.Request{}, fmt.Errorf("--session-ids: %w", err)
	}
	if len(list) > 0 {
		req["sessionIds"] = list
	}
	switch discover {
	case "":
	case "true", "false":
		req["discover"] = discover == "true"
	default:
		return handler.Request{}, fmt.Errorf("--discover takes true or false, got %q", discover)
	}
	if tags != "" {
		m, err := handler.ParseTags(tags)
		if err != nil {
			return handler.Request{}, fmt.Errorf("--tags: %w", err)
		}
		req["tags"] = m
	}
	payload, _ := json.Marshal(req)
	return handler.ParseRequest(payload)
}

func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// stdin is what track --from - reads; tests replace it.
var stdin io.Reader = os.Stdin

// cliBatch is how many ids track and untrack write before saying how far
// they got.
const cliBatch = 1000

// readIDs reads the text of an ids file, or of stdin for "-".
func readIDs(name string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("read ids: %w", err)
	}
	return string(b), nil
}
