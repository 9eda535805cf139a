// Package glueemu is a scriptable, in-process emulator of the AWS Glue
// interactive sessions API, for tests, offline demos and benchmarks.
//
// An [Emulator] is an [http.Handler] that speaks the AWS JSON 1.1 protocol
// for the GetSession, ListSessions and ListStatements operations, so the
// real aws-sdk-go-v2 Glue client can talk to it:
//
//	emu := glueemu.New()
//	srv := httptest.NewServer(emu)
//	client := glue.NewFromConfig(cfg, func(o *glue.Options) {
//		o.BaseEndpoint = aws.String(srv.URL)
//	})
//
// Sessions are seeded with [Emulator.Put] or [Emulator.Script], their
// statements with [Emulator.SetStatements]; errors, malformed answers,
// latency and throttling can be injected. Every request is counted,
// including those answered with an injected error, and so are the bytes
// of every answer.
package glueemu

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	opGet        = "GetSession"
	opList       = "ListSessions"
	opStatements = "ListStatements"

	// DefaultPageSize is the largest ListSessions page, unless changed
	// with [Emulator.SetPageSize]; a smaller MaxResults gives smaller pages.
	DefaultPageSize = 1000

	// DefaultStatementsPageSize is the largest ListStatements page, unless
	// changed with [Emulator.SetStatementsPageSize]. ListStatements takes
	// no MaxResults and Glue documents no page size: 100 is a guess, small
	// enough that a long-lived notebook session needs several pages and
	// large enough that most sessions fit in one.
	DefaultStatementsPageSize = 100
)

// Session is an interactive session as held by the emulator. Zero strings
// and nil pointers, maps and slices are omitted from the wire, just as
// fields Glue does not return.
type Session struct {
	ID                    string
	CreatedOn             *time.Time
	Status                string // PROVISIONING, READY, FAILED, TIMEOUT, STOPPING, STOPPED or anything else
	ErrorMessage          string
	Description           string
	Role                  string
	Command               *Command
	DefaultArguments      map[string]string
	Connections           []string // sent as {"Connections": {"Connections": [...]}}
	Progress              *float64
	MaxCapacity           *float64
	SecurityConfiguration string
	GlueVersion           string
	NumberOfWorkers       *int32
	WorkerType            string
	CompletedOn           *time.Time
	ExecutionTime         *float64
	DPUSeconds            *float64
	IdleTimeout           *int32
	ProfileName           string
	SessionType           string

	// Tags are used only by the ListSessions tag filter; Glue does not
	// return them in the Session shape.
	Tags map[string]string
}

// Command is the SessionCommand of a session.
type Command struct {
	Name          string `json:",omitzero"`
	PythonVersion string `json:",omitzero"`
}

// Statement is a statement of a session as held by the emulator and sent
// on the wire. Id, Progress, StartedOn and CompletedOn are always sent, as
// Livy (whose statements Glue's follow) always sends them; StartedOn and
// CompletedOn are sent exactly as given, in whatever unit the test chose
// (Glue does not document it; Livy's are epoch milliseconds). Empty
// strings and a nil Output are omitted.
type Statement struct {
	ID          int32            `json:"Id"`
	Code        string           `json:",omitzero"`
	State       string           `json:",omitzero"` // WAITING, RUNNING, AVAILABLE, CANCELLING, CANCELLED, ERROR or anything else
	Output      *StatementOutput `json:",omitzero"`
	Progress    float64
	StartedOn   int64
	CompletedOn int64
}

// StatementOutput is the output of a statement. ExecutionCount is always
// sent; empty strings, a nil Data and a nil Traceback are omitted.
type StatementOutput struct {
	Data           *StatementData `json:",omitzero"`
	ExecutionCount int32
	Status         string   `json:",omitzero"` // sent as given: the SDK types it StatementState, Livy says ok or error
	ErrorName      string   `json:",omitzero"`
	ErrorValue     string   `json:",omitzero"`
	Traceback      []string `json:",omitzero"`
}

// StatementData is the data of a statement's output; TextPlain is always
// sent, even empty.
type StatementData struct {
	TextPlain string
}

// Fault is an injected failure. Zero selector fields match anything.
type Fault struct {
	Operation string // "GetSession", "ListSessions", "ListStatements" or "" for any
	SessionID string // GetSession Id or ListStatements SessionId; if set, never matches ListSessions
	Page      int    // 1-based ListSessions or ListStatements page; if set, never matches GetSession

	Code    string // error __type, e.g. "ThrottlingException"; default InternalServiceException
	Status  int    // HTTP status; default 500 for InternalServiceException, else 400 (200 with Raw)
	Message string // default: Code
	Times   int    // number of requests to fail; 0 = forever

	// Raw, if set, is sent verbatim as the response body instead of an
	// error, e.g. to answer with malformed or truncated JSON.
	Raw string
}

// Emulator is an in-process Glue interactive sessions endpoint. Its
// methods are safe for concurrent use. Create it with [New].
type Emulator struct {
	mu         sync.Mutex
	sessions   map[string]Session
	order      []string // insertion order, used for listing
	statements map[string][]Statement
	scripts    []*script
	faults     []Fault
	calls      map[string]int
	bytes      map[string]int64
	origins    map[string]string
	latency    time.Duration
	pageSize   int
	stmtPage   int
	bucket     *bucket
	reqID      int
	inFlight   int
	maxIn      int
}

type script struct {
	id    string
	steps []Session
	pos   int
}

// New returns an empty emulator.
func New() *Emulator {
	return &Emulator{
		sessions:   map[string]Session{},
		statements: map[string][]Statement{},
		calls:      map[string]int{},
		bytes:      map[string]int64{},
		origins:    map[string]string{},
		pageSize:   DefaultPageSize,
		stmtPage:   DefaultStatementsPageSize,
	}
}

// Put creates or replaces the session s.ID. A replaced session keeps its
// position in listings. Put panics if s.ID is empty.
func (e *Emulator) Put(s Session) {
	if s.ID == "" {
		panic("glueemu: Put of a session without ID")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.put(s.clone())
}

func (e *Emulator) put(s Session) {
	if _, ok := e.sessions[s.ID]; !ok {
		e.order = append(e.order, s.ID)
	}
	e.sessions[s.ID] = s
}

// Update calls f on a copy of session id and stores the result, keeping
// the ID. It reports whether the session exists; f is not called if not.
func (e *Emulator) Update(id string, f func(*Session)) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[id]
	if !ok {
		return false
	}
	s = s.clone()
	f(&s)
	s.ID = id
	e.sessions[id] = s.clone()
	return true
}

// Delete removes session id, its statements and its script, if any.
func (e *Emulator) Delete(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sessions, id)
	delete(e.statements, id)
	e.order = slices.DeleteFunc(e.order, func(o string) bool { return o == id })
	e.scripts = slices.DeleteFunc(e.scripts, func(sc *script) bool { return sc.id == id })
}

// Get returns a copy of session id.
func (e *Emulator) Get(id string) (Session, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[id]
	return s.clone(), ok
}

// SetStatements replaces the statements of session id, in the order
// ListStatements returns them, with copies of statements; none removes
// them. ListStatements answers EntityNotFoundException for a session that
// was not Put, whatever its statements.
func (e *Emulator) SetStatements(id string, statements ...Statement) {
	cp := make([]Statement, len(statements))
	for i, st := range statements {
		cp[i] = st.clone()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(cp) == 0 {
		delete(e.statements, id)
		return
	}
	e.statements[id] = cp
}

// Script gives session id a lifecycle: steps[0] is stored now and each
// [Emulator.Advance] stores the next step, the last one staying in place.
// Step IDs are ignored. Script with no steps removes the script but not
// the session.
func (e *Emulator) Script(id string, steps ...Session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scripts = slices.DeleteFunc(e.scripts, func(sc *script) bool { return sc.id == id })
	if len(steps) == 0 {
		return
	}
	sc := &script{id: id}
	for _, s := range steps {
		s = s.clone()
		s.ID = id
		sc.steps = append(sc.steps, s)
	}
	e.scripts = append(e.scripts, sc)
	e.put(sc.steps[0].clone())
}

// Advance moves every scripted session one step on and reports whether
// any of them had a step left.
func (e *Emulator) Advance() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	moved := false
	for _, sc := range e.scripts {
		if sc.pos+1 < len(sc.steps) {
			sc.pos++
			e.put(sc.steps[sc.pos].clone())
			moved = true
		}
	}
	return moved
}

// Inject adds a fault. Faults are tried in the order injected; the first
// matching one answers the request.
func (e *Emulator) Inject(f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, f)
}

// ClearFaults removes all injected faults.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

// SetLatency delays every request by d, or until the request's context is
// done. Zero disables the delay.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// SetPageSize sets the largest ListSessions page the emulator answers,
// whatever MaxResults asks for; n < 1 restores [DefaultPageSize].
func (e *Emulator) SetPageSize(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < 1 {
		n = DefaultPageSize
	}
	e.pageSize = n
}

// SetStatementsPageSize sets the largest ListStatements page the emulator
// answers; n < 1 restores [DefaultStatementsPageSize].
func (e *Emulator) SetStatementsPageSize(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < 1 {
		n = DefaultStatementsPageSize
	}
	e.stmtPage = n
}

// RateLimit answers requests above perSecond, with bursts of up to burst
// requests, with a ThrottlingException. The bucket starts full.
// perSecond <= 0 removes the limit.
func (e *Emulator) RateLimit(perSecond float64, burst int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if perSecond <= 0 {
		e.bucket = nil
		return
	}
	b := float64(max(burst, 1))
	e.bucket = &bucket{rate: perSecond, burst: b, tokens: b, last: time.Now()}
}

// Calls returns the number of requests received per operation, including
// failed and retried ones.
func (e *Emulator) Calls() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.calls)
}

// BytesServed returns the number of response body bytes sent for operation
// op (e.g. "ListStatements"), errors and injected bodies included.
func (e *Emulator) BytesServed(op string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bytes[op]
}

// RequestOrigins returns, per operation, the RequestOrigin of the last
// request ("" if it had none).
func (e *Emulator) RequestOrigins() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.origins)
}

// MaxInFlight returns the largest number of requests served concurrently
// since New or the last ResetCalls.
func (e *Emulator) MaxInFlight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxIn
}

// ResetCalls clears the call counts, bytes served, request origins and
// MaxInFlight.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.calls)
	clear(e.bytes)
	clear(e.origins)
	e.maxIn = e.inFlight
}

type request struct {
	ID            string `json:"Id"`
	SessionID     string `json:"SessionId"`
	RequestOrigin string
	NextToken     *string
	MaxResults    *int
	Tags          map[string]string
}

// ServeHTTP answers one AWS JSON 1.1 request.
func (e *Emulator) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	w := &countingWriter{ResponseWriter: rw}
	e.mu.Lock()
	e.reqID++
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("glueemu-%d", e.reqID))
	e.calls[op]++
	e.inFlight++
	e.maxIn = max(e.maxIn, e.inFlight)
	latency := e.latency
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inFlight--
		e.bytes[op] += w.n
		e.mu.Unlock()
	}()

	if !ok || r.Method != http.MethodPost || (op != opGet && op != opList && op != opStatements) {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in request
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	e.mu.Lock()
	e.origins[op] = in.RequestOrigin
	e.mu.Unlock()

	page, offset := 0, 0
	if op == opList || op == opStatements {
		page = 1
		if in.NextToken != nil {
			if _, err := fmt.Sscanf(*in.NextToken, "p%d:o%d", &page, &offset); err != nil || page < 2 || offset < 0 {
				writeError(w, http.StatusBadRequest, "InvalidInputException", "invalid NextToken")
				return
			}
		}
	}

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	e.mu.Lock()
	throttled := e.bucket != nil && !e.bucket.take(time.Now())
	id := in.ID
	if op == opStatements {
		id = in.SessionID
	}
	f, faulted := e.takeFault(op, id, page)
	e.mu.Unlock()
	switch {
	case throttled:
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	case faulted && f.Raw != "":
		writeRaw(w, cmp.Or(f.Status, http.StatusOK), []byte(f.Raw))
	case faulted:
		code := cmp.Or(f.Code, "InternalServiceException")
		status := f.Status
		if status == 0 {
			status = http.StatusBadRequest
			if code == "InternalServiceException" {
				status = http.StatusInternalServerError
			}
		}
		writeError(w, status, code, cmp.Or(f.Message, code))
	case op == opGet:
		e.getSession(w, in)
	case op == opStatements:
		e.listStatements(w, in, page, offset)
	default:
		e.listSessions(w, in, page, offset)
	}
}

// countingWriter counts the body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (e *Emulator) takeFault(op, id string, page int) (Fault, bool) {
	for i, f := range e.faults {
		if (f.Operation != "" && f.Operation != op) ||
			(f.SessionID != "" && (op == opList || f.SessionID != id)) ||
			(f.Page != 0 && (op == opGet || f.Page != page)) {
			continue
		}
		switch f.Times {
		case 0:
		case 1:
			e.faults = slices.Delete(e.faults, i, i+1)
		default:
			e.faults[i].Times--
		}
		return f, true
	}
	return Fault{}, false
}

func (e *Emulator) getSession(w http.ResponseWriter, in request) {
	if in.ID == "" {
		writeError(w, http.StatusBadRequest, "InvalidInputException", "Id is required")
		return
	}
	e.mu.Lock()
	s, ok := e.sessions[in.ID] // stored sessions are never modified in place
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, "EntityNotFoundException", "Session "+in.ID+" not found")
		return
	}
	writeJSON(w, http.StatusOK, struct{ Session wireSession }{s.wire()})
}

func (e *Emulator) listSessions(w http.ResponseWriter, in request, page, offset int) {
	e.mu.Lock()
	size := e.pageSize
	var matched []Session
	for _, id := range e.order {
		if s := e.sessions[id]; hasTags(s.Tags, in.Tags) {
			matched = append(matched, s)
		}
	}
	e.mu.Unlock()
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			writeError(w, http.StatusBadRequest, "InvalidInputException", "MaxResults must be between 1 and 1000")
			return
		}
		// Like a real service, the emulator may answer fewer than asked.
		size = min(size, *in.MaxResults)
	}
	out := struct {
		Ids       []string
		Sessions  []wireSession
		NextToken string `json:",omitzero"`
	}{Ids: []string{}, Sessions: []wireSession{}}
	offset = min(offset, len(matched))
	end := min(offset+size, len(matched))
	for _, s := range matched[offset:end] {
		out.Ids = append(out.Ids, s.ID)
		out.Sessions = append(out.Sessions, s.wire())
	}
	if end < len(matched) {
		out.NextToken = fmt.Sprintf("p%d:o%d", page+1, end)
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) listStatements(w http.ResponseWriter, in request, page, offset int) {
	if in.SessionID == "" {
		writeError(w, http.StatusBadRequest, "InvalidInputException", "SessionId is required")
		return
	}
	e.mu.Lock()
	_, ok := e.sessions[in.SessionID]
	all := e.statements[in.SessionID] // stored statements are never modified in place
	size := e.stmtPage
	e.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, "EntityNotFoundException", "Session "+in.SessionID+" not found")
		return
	}
	offset = min(offset, len(all))
	end := min(offset+size, len(all))
	out := struct {
		Statements []Statement
		NextToken  string `json:",omitzero"`
	}{Statements: append([]Statement{}, all[offset:end]...)}
	if end < len(all) {
		out.NextToken = fmt.Sprintf("p%d:o%d", page+1, end)
	}
	writeJSON(w, http.StatusOK, out)
}

func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, struct {
		Type    string `json:"__type"`
		Message string
	}{code, msg})
}

// writeJSON sends v without Go's HTML escaping of <, > and &, as AWS
// does, so that BytesServed counts the bytes Glue would send for code.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalServiceException", err.Error())
		return
	}
	writeRaw(w, status, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// bucket is a token bucket; callers hold Emulator.mu.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// epoch is a timestamp sent as epoch seconds with millisecond precision,
// like Glue does (e.g. 1700000000.123).
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(time.Time(t).UnixMilli())/1e3, 'f', -1, 64), nil
}

type wireSession struct {
	ID                    string            `json:"Id"`
	CreatedOn             *epoch            `json:",omitzero"`
	Status                string            `json:",omitzero"`
	ErrorMessage          string            `json:",omitzero"`
	Description           string            `json:",omitzero"`
	Role                  string            `json:",omitzero"`
	Command               *Command          `json:",omitzero"`
	DefaultArguments      map[string]string `json:",omitzero"`
	Connections           *wireConnections  `json:",omitzero"`
	Progress              *float64          `json:",omitzero"`
	MaxCapacity           *float64          `json:",omitzero"`
	SecurityConfiguration string            `json:",omitzero"`
	GlueVersion           string            `json:",omitzero"`
	NumberOfWorkers       *int32            `json:",omitzero"`
	WorkerType            string            `json:",omitzero"`
	CompletedOn           *epoch            `json:",omitzero"`
	ExecutionTime         *float64          `json:",omitzero"`
	DPUSeconds            *float64          `json:",omitzero"`
	IdleTimeout           *int32            `json:",omitzero"`
	ProfileName           string            `json:",omitzero"`
	SessionType           string            `json:",omitzero"`
}

type wireConnections struct{ Connections []string }

func (s Session) wire() wireSession {
	w := wireSession{
		ID: s.ID, CreatedOn: (*epoch)(s.CreatedOn), Status: s.Status,
		ErrorMessage: s.ErrorMessage, Description: s.Description, Role: s.Role,
		Command: s.Command, DefaultArguments: s.DefaultArguments,
		Progress: s.Progress, MaxCapacity: s.MaxCapacity,
		SecurityConfiguration: s.SecurityConfiguration, GlueVersion: s.GlueVersion,
		NumberOfWorkers: s.NumberOfWorkers, WorkerType: s.WorkerType,
		CompletedOn: (*epoch)(s.CompletedOn), ExecutionTime: s.ExecutionTime,
		DPUSeconds: s.DPUSeconds, IdleTimeout: s.IdleTimeout,
		ProfileName: s.ProfileName, SessionType: s.SessionType,
	}
	if s.Connections != nil {
		w.Connections = &wireConnections{s.Connections}
	}
	return w
}

// clone returns a deep copy of s.
func (s Session) clone() Session {
	s.CreatedOn, s.CompletedOn = ptrCopy(s.CreatedOn), ptrCopy(s.CompletedOn)
	s.Command = ptrCopy(s.Command)
	s.Progress, s.MaxCapacity = ptrCopy(s.Progress), ptrCopy(s.MaxCapacity)
	s.ExecutionTime, s.DPUSeconds = ptrCopy(s.ExecutionTime), ptrCopy(s.DPUSeconds)
	s.NumberOfWorkers, s.IdleTimeout = ptrCopy(s.NumberOfWorkers), ptrCopy(s.IdleTimeout)
	s.DefaultArguments, s.Tags = maps.Clone(s.DefaultArguments), maps.Clone(s.Tags)
	s.Connections = slices.Clone(s.Connections)
	return s
}

// clone returns a deep copy of st.
func (st Statement) clone() Statement {
	if st.Output != nil {
		o := *st.Output
		o.Data = ptrCopy(o.Data)
		o.Traceback = slices.Clone(o.Traceback)
		st.Output = &o
	}
	return st
}

func ptrCopy[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return new(*p)
}
