package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// ServerFlag is the flag of the runner that makes it serve the AWS side of
// a case (ServeAWS): the Glue emulator and the DynamoDB and EventBridge
// stand-ins, so that their memory is not the measured process's.
const ServerFlag = "aws-server"

// awsSide is what a run talks to: the Glue emulator over HTTP, and the
// DynamoDB and EventBridge stand-ins; in this process, or in a server
// process driven over HTTP.
type awsSide interface {
	glueURL() string
	dynamoDB() state.DynamoDB
	eventBridge() handler.EventBridge
	// change makes 5% of the fleet change (fleet.change).
	change() error
	// setLatency sets the latency of every service, throttle Glue's rate.
	setLatency(time.Duration) error
	throttle(perSecond float64, burst int) error
	resetCalls() error
	// calls returns the calls by operation, the most Glue requests served
	// at once and the bytes of the ListStatements answers since
	// resetCalls.
	calls() (callsReply, error)
	close()
}

// standIns are the emulator and the stand-ins, in the process that serves
// them.
type standIns struct {
	fl  fleet
	emu *glueemu.Emulator
	db  *fakeaws.DynamoDB
	eb  *forgetfulEventBridge
}

func newStandIns(fl fleet, c Case) *standIns {
	emu := glueemu.New()
	fl.put(emu)
	if c.PageSize > 0 {
		emu.SetPageSize(c.PageSize)
	}
	if c.StatementsPage > 0 {
		emu.SetStatementsPageSize(c.StatementsPage)
	}
	return &standIns{fl: fl, emu: emu, db: fakeaws.NewDynamoDB(Table), eb: &forgetfulEventBridge{eb: fakeaws.NewEventBridge()}}
}

func (s *standIns) change() { s.fl.change(s.emu) }

func (s *standIns) setLatency(d time.Duration) {
	s.emu.SetLatency(d)
	s.db.Latency, s.eb.eb.Latency = d, d
}

func (s *standIns) resetCalls() {
	s.emu.ResetCalls()
	s.db.Reset()
	s.eb.calls.Store(0)
}

func (s *standIns) calls() callsReply {
	c := Calls{}
	for op, n := range s.emu.Calls() {
		c[op] += n
	}
	for op, n := range s.db.Calls() {
		c[op] += n
	}
	c[OpPutEvents] += int(s.eb.calls.Load())
	return callsReply{Calls: c.complete(), MaxInFlight: s.emu.MaxInFlight(), StatementBytes: s.emu.BytesServed(OpListStatements)}
}

// forgetfulEventBridge is the EventBridge stand-in without its memory: it
// drops the entries it accepted after every call, so that they do not
// count as the function's memory, and counts the calls itself.
type forgetfulEventBridge struct {
	eb    *fakeaws.EventBridge
	calls atomic.Int64
}

func (f *forgetfulEventBridge) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls.Add(1)
	out, err := f.eb.PutEvents(ctx, in, opts...)
	f.eb.Reset()
	return out, err
}

// localAWS serves the stand-ins in this process.
type localAWS struct {
	*standIns
	srv *httptest.Server
}

func startLocalAWS(fl fleet, c Case) *localAWS {
	s := newStandIns(fl, c)
	return &localAWS{standIns: s, srv: httptest.NewServer(s.emu)}
}

func (l *localAWS) glueURL() string                        { return l.srv.URL }
func (l *localAWS) dynamoDB() state.DynamoDB               { return l.db }
func (l *localAWS) eventBridge() handler.EventBridge       { return l.eb }
func (l *localAWS) change() error                          { l.standIns.change(); return nil }
func (l *localAWS) setLatency(d time.Duration) error       { l.standIns.setLatency(d); return nil }
func (l *localAWS) throttle(rate float64, burst int) error { l.emu.RateLimit(rate, burst); return nil }
func (l *localAWS) resetCalls() error                      { l.standIns.resetCalls(); return nil }
func (l *localAWS) calls() (callsReply, error)             { return l.standIns.calls(), nil }
func (l *localAWS) close()                                 { l.srv.Close() }

// controlPrefix is the path under which an AWS server takes the
// benchmark's commands and the stand-ins' calls (gob-encoded); every other
// request goes to the Glue emulator.
const controlPrefix = "/bench/"

func init() {
	for _, v := range []dbtypes.AttributeValue{
		&dbtypes.AttributeValueMemberB{}, &dbtypes.AttributeValueMemberBOOL{}, &dbtypes.AttributeValueMemberBS{},
		&dbtypes.AttributeValueMemberL{}, &dbtypes.AttributeValueMemberM{}, &dbtypes.AttributeValueMemberN{},
		&dbtypes.AttributeValueMemberNS{}, &dbtypes.AttributeValueMemberNULL{}, &dbtypes.AttributeValueMemberS{},
		&dbtypes.AttributeValueMemberSS{},
	} {
		gob.Register(v)
	}
}

// reply is a stand-in's answer over the wire.
type reply[T any] struct {
	Out     T
	Err     string
	Code    string // the API error code, if the error is one
	Message string
}

// ServeAWS serves the AWS side of the fleet of the case arg (JSON; only
// N, PageSize and the fields that shape the fleet and its statements are
// read), on a free port of 127.0.0.1, and writes its URL as
// the first line of w: the Glue emulator, and under /bench/ the DynamoDB
// and EventBridge stand-ins (gob over HTTP) and the benchmark's commands.
// It returns when stdin reaches its end (the process that started it
// closed it, or died).
func ServeAWS(ctx context.Context, arg string, stdin io.Reader, w io.Writer) error {
	var c Case
	if err := json.Unmarshal([]byte(arg), &c); err != nil {
		return fmt.Errorf("bench: aws server %q: %w", arg, err)
	}
	s := newStandIns(newFleet(c), c)
	mux := http.NewServeMux()
	mux.Handle("/", s.emu)
	command := func(name string, f func(url.Values) error) {
		mux.HandleFunc(controlPrefix+name, func(w http.ResponseWriter, r *http.Request) {
			if err := f(r.URL.Query()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
			}
		})
	}
	command("change", func(url.Values) error { s.change(); return nil })
	command("latency", func(q url.Values) error {
		d, err := time.ParseDuration(q.Get("d"))
		s.setLatency(d)
		return err
	})
	command("throttle", func(q url.Values) error {
		rate, err1 := strconv.ParseFloat(q.Get("rate"), 64)
		burst, err2 := strconv.Atoi(q.Get("burst"))
		s.emu.RateLimit(rate, burst)
		return errors.Join(err1, err2)
	})
	command("reset", func(url.Values) error { s.resetCalls(); return nil })
	mux.HandleFunc(controlPrefix+"calls", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(s.calls())
	})
	serve(mux, "BatchGetItem", s.db.BatchGetItem, func(o *dynamodb.BatchGetItemOutput) batchGetOut {
		return batchGetOut{Responses: o.Responses, UnprocessedKeys: o.UnprocessedKeys}
	})
	serve(mux, "GetItem", s.db.GetItem, func(o *dynamodb.GetItemOutput) getOut { return getOut{Item: o.Item} })
	serve(mux, "PutItem", s.db.PutItem, func(o *dynamodb.PutItemOutput) putOut { return putOut{Attributes: o.Attributes} })
	serve(mux, "UpdateItem", s.db.UpdateItem, func(o *dynamodb.UpdateItemOutput) putOut { return putOut{Attributes: o.Attributes} })
	serve(mux, "DeleteItem", s.db.DeleteItem, func(o *dynamodb.DeleteItemOutput) putOut { return putOut{Attributes: o.Attributes} })
	serve(mux, "Query", s.db.Query, func(o *dynamodb.QueryOutput) pageOut {
		return pageOut{Items: o.Items, LastEvaluatedKey: o.LastEvaluatedKey}
	})
	serve(mux, "Scan", s.db.Scan, func(o *dynamodb.ScanOutput) pageOut {
		return pageOut{Items: o.Items, LastEvaluatedKey: o.LastEvaluatedKey}
	})
	serve(mux, "PutEvents", s.eb.PutEvents, func(o *eventbridge.PutEventsOutput) putEventsOut {
		return putEventsOut{Entries: o.Entries, FailedEntryCount: o.FailedEntryCount}
	})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	if _, err := fmt.Fprintf(w, "http://%s\n", l.Addr()); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// The stand-ins' outputs over the wire: the SDK's output types carry
// metadata that gob cannot encode.
type (
	batchGetOut struct {
		Responses       map[string][]map[string]dbtypes.AttributeValue
		UnprocessedKeys map[string]dbtypes.KeysAndAttributes
	}
	getOut struct {
		Item map[string]dbtypes.AttributeValue
	}
	putOut struct {
		Attributes map[string]dbtypes.AttributeValue
	}
	pageOut struct {
		Items            []map[string]dbtypes.AttributeValue
		LastEvaluatedKey map[string]dbtypes.AttributeValue
	}
	putEventsOut struct {
		Entries          []ebtypes.PutEventsResultEntry
		FailedEntryCount int32
	}
	callsReply struct {
		Calls          Calls
		MaxInFlight    int
		StatementBytes int64
	}
)

// serve answers the stand-in operation op: its gob-encoded input, then
// the gob-encoded reply.
func serve[In, Out, Wire any, Opt any](mux *http.ServeMux, op string, call func(context.Context, *In, ...Opt) (*Out, error), wire func(*Out) Wire) {
	mux.HandleFunc(controlPrefix+"aws/"+op, func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := gob.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var rep reply[Wire]
		out, err := call(r.Context(), &in)
		if err != nil {
			rep.Err = err.Error()
			var api smithy.APIError
			if errors.As(err, &api) {
				rep.Code, rep.Message = api.ErrorCode(), api.ErrorMessage()
			}
		} else {
			rep.Out = wire(out)
		}
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b.Bytes())
	})
}

// remoteAWS is an AWS server process driven over HTTP.
type remoteAWS struct {
	base   string
	client *http.Client
}

func newRemoteAWS(base string) *remoteAWS {
	// Enough idle connections for every call a run keeps in flight.
	return &remoteAWS{base: base, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

func (r *remoteAWS) glueURL() string                  { return r.base }
func (r *remoteAWS) dynamoDB() state.DynamoDB         { return remoteDynamoDB{r} }
func (r *remoteAWS) eventBridge() handler.EventBridge { return remoteEventBridge{r} }
func (r *remoteAWS) close()                           { r.client.CloseIdleConnections() }

func (r *remoteAWS) command(name string, q url.Values) ([]byte, error) {
	resp, err := r.client.Post(r.base+controlPrefix+name+"?"+q.Encode(), "text/plain", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: aws server %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("bench: aws server %s: %s: %s", name, resp.Status, b)
	}
	return b, err
}

func (r *remoteAWS) change() error { _, err := r.command("change", nil); return err }
func (r *remoteAWS) setLatency(d time.Duration) error {
	_, err := r.command("latency", url.Values{"d": {d.String()}})
	return err
}
func (r *remoteAWS) throttle(rate float64, burst int) error {
	_, err := r.command("throttle", url.Values{"rate": {fmt.Sprint(rate)}, "burst": {fmt.Sprint(burst)}})
	return err
}
func (r *remoteAWS) resetCalls() error { _, err := r.command("reset", nil); return err }
func (r *remoteAWS) calls() (callsReply, error) {
	b, err := r.command("calls", nil)
	if err != nil {
		return callsReply{}, err
	}
	var c callsReply
	if err := json.Unmarshal(b, &c); err != nil {
		return callsReply{}, fmt.Errorf("bench: aws server calls %q: %w", b, err)
	}
	c.Calls = c.Calls.complete()
	return c, nil
}

// call sends one stand-in operation to the server.
func call[In, Wire any](ctx context.Context, r *remoteAWS, op string, in *In) (Wire, error) {
	var rep reply[Wire]
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(in); err != nil {
		return rep.Out, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+controlPrefix+"aws/"+op, &b)
	if err != nil {
		return rep.Out, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return rep.Out, fmt.Errorf("operation error %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return rep.Out, fmt.Errorf("operation error %s: %s: %s", op, resp.Status, msg)
	}
	if err := gob.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return rep.Out, fmt.Errorf("operation error %s: %w", op, err)
	}
	switch {
	case rep.Code == "ConditionalCheckFailedException":
		return rep.Out, &dbtypes.ConditionalCheckFailedException{Message: &rep.Message}
	case rep.Code != "":
		return rep.Out, &smithy.GenericAPIError{Code: rep.Code, Message: rep.Message}
	case rep.Err != "":
		return rep.Out, errors.New(rep.Err)
	}
	return rep.Out, nil
}

// remoteDynamoDB is the DynamoDB stand-in of an AWS server.
type remoteDynamoDB struct{ r *remoteAWS }

var _ state.DynamoDB = remoteDynamoDB{}

func (d remoteDynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := call[dynamodb.BatchGetItemInput, batchGetOut](ctx, d.r, "BatchGetItem", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.BatchGetItemOutput{Responses: out.Responses, UnprocessedKeys: out.UnprocessedKeys}, nil
}

func (d remoteDynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := call[dynamodb.GetItemInput, getOut](ctx, d.r, "GetItem", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: out.Item}, nil
}

func (d remoteDynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := call[dynamodb.PutItemInput, putOut](ctx, d.r, "PutItem", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.PutItemOutput{Attributes: out.Attributes}, nil
}

func (d remoteDynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := call[dynamodb.UpdateItemInput, putOut](ctx, d.r, "UpdateItem", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.UpdateItemOutput{Attributes: out.Attributes}, nil
}

func (d remoteDynamoDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	out, err := call[dynamodb.DeleteItemInput, putOut](ctx, d.r, "DeleteItem", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.DeleteItemOutput{Attributes: out.Attributes}, nil
}

func (d remoteDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := call[dynamodb.QueryInput, pageOut](ctx, d.r, "Query", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.QueryOutput{Items: out.Items, LastEvaluatedKey: out.LastEvaluatedKey, Count: int32(len(out.Items))}, nil
}

func (d remoteDynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	out, err := call[dynamodb.ScanInput, pageOut](ctx, d.r, "Scan", in)
	if err != nil {
		return nil, err
	}
	return &dynamodb.ScanOutput{Items: out.Items, LastEvaluatedKey: out.LastEvaluatedKey, Count: int32(len(out.Items))}, nil
}

// remoteEventBridge is the EventBridge stand-in of an AWS server.
type remoteEventBridge struct{ r *remoteAWS }

var _ handler.EventBridge = remoteEventBridge{}

func (e remoteEventBridge) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	out, err := call[eventbridge.PutEventsInput, putEventsOut](ctx, e.r, "PutEvents", in)
	if err != nil {
		return nil, err
	}
	return &eventbridge.PutEventsOutput{Entries: out.Entries, FailedEntryCount: out.FailedEntryCount}, nil
}

// startServer starts `exe -aws-server` for the case's fleet and returns
// its URL and a function that stops it and waits for it.
func startServer(ctx context.Context, exe string, c Case) (string, func(), error) {
	arg, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-"+ServerFlag, string(arg))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("bench: aws server: %w: %s", err, stderr.String())
	}
	return strings.TrimSpace(line), stop, nil
}
