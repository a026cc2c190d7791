package main

import (
	"context"
	"errors"
	"io"
)

// runEvalRecommend is replaced by the recommender's evaluation.
func runEvalRecommend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("eval recommend: the recommender evaluation is not built yet")
}
