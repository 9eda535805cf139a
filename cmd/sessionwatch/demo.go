package main

import (
	"context"
	"errors"
	"io"
)

func demo(ctx context.Context, w io.Writer, asJSON bool) error {
	return errors.New("demo: not built yet")
}
