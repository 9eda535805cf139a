package handler_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
)

var _ handler.Glue = (*fakeGlue)(nil)

// fakeGlue is a hand-written handler.Glue: sessions by id, tags by id for
// ListSessions' filter, an error hook, and a record of the calls.
type fakeGlue struct {
	mu       sync.Mutex
	sessions map[string]*gluetypes.Session
	tags     map[string]map[string]string
	// getErr, when set, may fail the GetSession of an id.
	getErr func(id string) error
	// listErr, when set, may fail the ListSessions call for a page (1-based).
	listErr func(page int) error
	// pageSize is how many sessions a ListSessions page holds.
	pageSize int

	gets  map[string]int
	lists []glue.ListSessionsInput
	// origins records the RequestOrigin of every call.
	origins []string
}

func newFakeGlue() *fakeGlue {
	return &fakeGlue{sessions: map[string]*gluetypes.Session{}, tags: map[string]map[string]string{}, gets: map[string]int{}, pageSize: 2}
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

func (f *fakeGlue) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, id)
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

// resetCalls forgets the calls recorded so far.
func (f *fakeGlue) resetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets, f.lists, f.origins = map[string]int{}, nil, nil
}
