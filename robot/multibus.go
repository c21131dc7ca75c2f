package robot

import (
	"context"
	"errors"
	"time"
)

// Buses joins several Hardware parts (one per physical bus) into one: Read
// and Write call each in turn (each touches only its own joints), Halt and
// Close reach every part even if one fails.
type Buses []Hardware

// Configure configures every bus, stopping at the first failure.
func (b Buses) Configure(ctx context.Context) error {
	for _, h := range b {
		if err := h.Configure(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Read reads every bus; it returns the first error after trying all.
func (b Buses) Read(now time.Time, s *State) error {
	var first error
	for _, h := range b {
		if err := h.Read(now, s); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Write writes every bus; it returns the first error after trying all.
func (b Buses) Write(now time.Time, c *Command) error {
	var first error
	for _, h := range b {
		if err := h.Write(now, c); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Halt halts every bus.
func (b Buses) Halt() error {
	var errs []error
	for _, h := range b {
		errs = append(errs, h.Halt())
	}
	return errors.Join(errs...)
}

// Close closes every bus.
func (b Buses) Close() error {
	var errs []error
	for _, h := range b {
		errs = append(errs, h.Close())
	}
	return errors.Join(errs...)
}

var _ Hardware = Buses(nil)
