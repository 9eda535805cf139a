package handler_test

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/glueemu"
)

var _ handler.Glue = (*fakeGlue)(nil)

// fakeGlue is a hand-written handler.Glue: sessions by id, tags by id for
// ListSessions' filter, statements by session id, error hooks, and a
// record of the calls.
type fakeGlue struct {
	mu       sync.Mutex
	sessions map[string]*gluetypes.Session
	tags     map[string]map[string]string
	// statements holds each session's statements in ListStatements order.
	statements map[string][]gluetypes.Statement
	// getErr, when set, may fail the GetSession of an id.
	getErr func(id string) error
	// listErr, when set, may fail the ListSessions call for a page (1-based).
	listErr func(page int) error
	// statementsErr, when set, may fail the ListStatements call of session
	// id for a page (1-based).
	statementsErr func(id string, page int) error
	// pageSize is how many sessions a ListSessions page holds.
	pageSize int
	// statementsPageSize is how many statements a ListStatements page holds.
	statementsPageSize int

	gets  map[string]int
	lists []glue.ListSessionsInput
	// stmtLists counts ListStatements calls (one per page) by session id.
	stmtLists map[string]int
	// origins records the RequestOrigin of every call.
	origins []string
}

func newFakeGlue() *fakeGlue {
	return &fakeGlue{
		sessions: map[string]*gluetypes.Session{}, tags: map[string]map[string]string{},
		statements: map[string][]gluetypes.Statement{},
		gets:       map[string]int{}, stmtLists: map[string]int{},
		pageSize: 2, statementsPageSize: 2,
	}
}

// put stores a copy of s (its Id names it), replacing any session of that id.
func (f *fakeGlue) put(s *gluetypes.Session, tags map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *s
	f.sessions[aws.ToString(s.Id)] = &c
	f.tags[aws.ToString(s.Id)] = tags
}

// update changes the stored session of id in place.
func (f *fakeGlue) update(id string, change func(*gluetypes.Session)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.sessions[id])
}

// remove deletes session id and its statements.
func (f *fakeGlue) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, id)
	delete(f.statements, id)
}

// setStatements replaces the statements of session id; none removes them.
// ListStatements still answers EntityNotFoundException until id is put.
func (f *fakeGlue) setStatements(id string, sts ...gluetypes.Statement) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statements[id] = slices.Clone(sts)
}

// statementCalls returns the number of ListStatements calls for id.
func (f *fakeGlue) statementCalls(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stmtLists[id]
}

func (f *fakeGlue) getCalls(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[id]
}

func (f *fakeGlue) totalGets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.gets {
		n += c
	}
	return n
}

func (f *fakeGlue) GetSession(_ context.Context, in *glue.GetSessionInput, _ ...func(*glue.Options)) (*glue.GetSessionOutput, error) {
	id := aws.ToString(in.Id)
	f.mu.Lock()
	f.gets[id]++
	f.origins = append(f.origins, aws.ToString(in.RequestOrigin))
	s, hook := f.sessions[id], f.getErr
	var c gluetypes.Session
	if s != nil {
		c = *s
	}
	f.mu.Unlock()
	if hook != nil {
		if err := hook(id); err != nil {
			return nil, err
		}
	}
	if s == nil {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Session " + id + " not found")}
	}
	return &glue.GetSessionOutput{Session: &c}, nil
}

func (f *fakeGlue) ListSessions(_ context.Context, in *glue.ListSessionsInput, _ ...func(*glue.Options)) (*glue.ListSessionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, *in)
	f.origins = append(f.origins, aws.ToString(in.RequestOrigin))
	start := 0
	if in.NextToken != nil {
		var err error
		if start, err = strconv.Atoi(*in.NextToken); err != nil {
			return nil, &gluetypes.InvalidInputException{Message: aws.String("bad token")}
		}
	}
	if f.listErr != nil {
		if err := f.listErr(start/f.pageSize + 1); err != nil {
			return nil, err
		}
	}
	var match []string
	for _, id := range slices.Sorted(maps.Keys(f.sessions)) {
		ok := true
		for k, v := range in.Tags {
			if f.tags[id][k] != v {
				ok = false
			}
		}
		if ok {
			match = append(match, id)
		}
	}
	out := &glue.ListSessionsOutput{}
	end := min(start+f.pageSize, len(match))
	for _, id := range match[min(start, len(match)):end] {
		out.Ids = append(out.Ids, id)
		out.Sessions = append(out.Sessions, *f.sessions[id])
	}
	if end < len(match) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// ListStatements pages through the statements of a session by NextToken.
// statementsErr is called without the lock held, so it may change f.
func (f *fakeGlue) ListStatements(_ context.Context, in *glue.ListStatementsInput, _ ...func(*glue.Options)) (*glue.ListStatementsOutput, error) {
	id := aws.ToString(in.SessionId)
	f.mu.Lock()
	f.stmtLists[id]++
	f.origins = append(f.origins, aws.ToString(in.RequestOrigin))
	size, hook := f.statementsPageSize, f.statementsErr
	f.mu.Unlock()
	start := 0
	if in.NextToken != nil {
		var err error
		if start, err = strconv.Atoi(*in.NextToken); err != nil || start < 0 {
			return nil, &gluetypes.InvalidInputException{Message: aws.String("bad token")}
		}
	}
	if hook != nil {
		if err := hook(id, start/size+1); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions[id] == nil {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Session " + id + " not found")}
	}
	all := f.statements[id]
	start = min(start, len(all))
	end := min(start+size, len(all))
	out := &glue.ListStatementsOutput{Statements: slices.Clone(all[start:end])}
	if end < len(all) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// resetCalls forgets the calls recorded so far.
func (f *fakeGlue) resetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets, f.lists, f.stmtLists, f.origins = map[string]int{}, nil, map[string]int{}, nil
}

// TestFakeGlueListStatements runs the fake and the Glue emulator, over the
// real SDK, through the same ListStatements cases, so the two cannot drift.
func TestFakeGlueListStatements(t *testing.T) {
	type lister interface {
		ListStatements(context.Context, *glue.ListStatementsInput, ...func(*glue.Options)) (*glue.ListStatementsOutput, error)
	}
	listAll := func(g lister, id string) (ids []int32, pages int, err error) {
		in := &glue.ListStatementsInput{SessionId: aws.String(id)}
		for {
			out, err := g.ListStatements(context.Background(), in)
			if err != nil {
				return ids, pages, err
			}
			pages++
			for _, st := range out.Statements {
				ids = append(ids, st.Id)
			}
			if in.NextToken = out.NextToken; in.NextToken == nil {
				return ids, pages, nil
			}
		}
	}
	for _, tc := range []struct {
		name      string
		session   bool // whether the session exists
		n         int  // statements
		deniedOn  int  // page denied, 0 for none
		wantIDs   []int32
		wantPages int
		wantErr   any // nil, or what errors.As must find
	}{
		{name: "three pages", session: true, n: 5, wantIDs: []int32{0, 1, 2, 3, 4}, wantPages: 3},
		{name: "full last page", session: true, n: 4, wantIDs: []int32{0, 1, 2, 3}, wantPages: 2},
		{name: "none", session: true, wantPages: 1},
		{name: "unknown session", n: 1, wantErr: new(*gluetypes.EntityNotFoundException)},
		{name: "denied on page 2", session: true, n: 5, deniedOn: 2, wantIDs: []int32{0, 1}, wantPages: 1, wantErr: new(*gluetypes.AccessDeniedException)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, emu := newFakeGlue(), glueemu.New()
			srv := httptest.NewServer(emu)
			t.Cleanup(srv.Close)
			emu.SetStatementsPageSize(fake.statementsPageSize)
			var fsts []gluetypes.Statement
			var ests []glueemu.Statement
			for i := range tc.n {
				fsts = append(fsts, gluetypes.Statement{Id: int32(i), State: gluetypes.StatementStateAvailable})
				ests = append(ests, glueemu.Statement{ID: int32(i), State: "AVAILABLE"})
			}
			if tc.session {
				fake.put(&gluetypes.Session{Id: aws.String("s")}, nil)
				emu.Put(glueemu.Session{ID: "s"})
			}
			fake.setStatements("s", fsts...)
			emu.SetStatements("s", ests...)
			if tc.deniedOn != 0 {
				fake.statementsErr = func(id string, page int) error {
					if page == tc.deniedOn {
						return &gluetypes.AccessDeniedException{Message: aws.String("denied")}
					}
					return nil
				}
				emu.Inject(glueemu.Fault{Operation: "ListStatements", SessionID: "s", Page: tc.deniedOn, Code: "AccessDeniedException"})
			}
			for name, g := range map[string]lister{"fake": fake, "emulator": emuGlue(srv.URL)} {
				ids, pages, err := listAll(g, "s")
				if !slices.Equal(ids, tc.wantIDs) || pages != tc.wantPages {
					t.Errorf("%s: got ids %v in %d pages, want %v in %d", name, ids, pages, tc.wantIDs, tc.wantPages)
				}
				if tc.wantErr == nil && err != nil {
					t.Errorf("%s: got %v, want no error", name, err)
				}
				if tc.wantErr != nil && !errors.As(err, tc.wantErr) {
					t.Errorf("%s: got %v, want %T", name, err, tc.wantErr)
				}
			}
			if got, want := fake.statementCalls("s"), emu.Calls()["ListStatements"]; got != want {
				t.Errorf("calls: fake %d, emulator %d", got, want)
			}
		})
	}
}
