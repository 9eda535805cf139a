// Package glueemu is a scriptable, in-process emulator of the AWS Glue
// interactive sessions API, for tests, offline demos and benchmarks.
//
// An [Emulator] is an [http.Handler] that speaks the AWS JSON 1.1 protocol
// for the GetSession and ListSessions operations, so the real
// aws-sdk-go-v2 Glue client can talk to it:
//
//	emu := glueemu.New()
//	srv := httptest.NewServer(emu)
//	client := glue.NewFromConfig(cfg, func(o *glue.Options) {
//		o.BaseEndpoint = aws.String(srv.URL)
//	})
//
// Sessions are seeded with [Emulator.Put] or [Emulator.Script]; errors,
// malformed answers, latency and throttling can be injected. Every
// request is counted, including those answered with an injected error.
package glueemu

import (
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
	opGet  = "GetSession"
	opList = "ListSessions"

	// DefaultPageSize is the largest ListSessions page, unless changed
	// with [Emulator.SetPageSize]; a smaller MaxResults gives smaller pages.
	DefaultPageSize = 1000
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

// Fault is an injected failure. Zero selector fields match anything.
type Fault struct {
	Operation string // "GetSession", "ListSessions" or "" for any
	SessionID string // GetSession Id; if set, never matches ListSessions
	Page      int    // 1-based ListSessions page; if set, never matches GetSession

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
	mu       sync.Mutex
	sessions map[string]Session
	order    []string // insertion order, used for listing
	scripts  []*script
	faults   []Fault
	calls    map[string]int
	origins  map[string]string
	latency  time.Duration
	pageSize int
	bucket   *bucket
	reqID    int
	inFlight int
	maxIn    int
}

type script struct {
	id    string
	steps []Session
	pos   int
}

// New returns an empty emulator.
func New() *Emulator {
	return &Emulator{
		sessions: map[string]Session{},
		calls:    map[string]int{},
		origins:  map[string]string{},
		pageSize: DefaultPageSize,
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

// Delete removes session id and its script, if any.
func (e *Emulator) Delete(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sessions, id)
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

// ResetCalls clears the call counts, request origins and MaxInFlight.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.calls)
	clear(e.origins)
	e.maxIn = e.inFlight
}

type request struct {
	ID            string `json:"Id"`
	RequestOrigin string
	NextToken     *string
	MaxResults    *int
	Tags          map[string]string
}

// ServeHTTP answers one AWS JSON 1.1 request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
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
		e.mu.Unlock()
	}()

	if !ok || r.Method != http.MethodPost || (op != opGet && op != opList) {
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
	if op == opList {
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
	f, faulted := e.takeFault(op, in.ID, page)
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
	default:
		e.listSessions(w, in, page, offset)
	}
}

func (e *Emulator) takeFault(op, id string, page int) (Fault, bool) {
	for i, f := range e.faults {
		if (f.Operation != "" && f.Operation != op) ||
			(f.SessionID != "" && (op != opGet || f.SessionID != id)) ||
			(f.Page != 0 && (op != opList || f.Page != page)) {
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalServiceException", err.Error())
		return
	}
	writeRaw(w, status, b)
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

func ptrCopy[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return new(*p)
}
