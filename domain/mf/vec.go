package mf

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// dot32 returns the dot product of two equal-length float32 vectors (gonum's
// assembly kernel).
func dot32(a, b []float32) float32 {
	n := len(a)
	return blas32.Dot(blas32.Vector{N: n, Inc: 1, Data: a}, blas32.Vector{N: n, Inc: 1, Data: b[:n]})
}

// gemv32 computes out = A x for a row-major rows x len(x) matrix A.
func gemv32(a []float32, rows int, x, out []float32) {
	k := len(x)
	blas32.Gemv(blas.NoTrans, 1, blas32.General{Rows: rows, Cols: k, Stride: k, Data: a[:rows*k]},
		blas32.Vector{N: k, Inc: 1, Data: x}, 0, blas32.Vector{N: rows, Inc: 1, Data: out[:rows]})
}

// axpy32 computes y += alpha x.
func axpy32(alpha float32, x, y []float32) {
	n := len(x)
	blas32.Axpy(alpha, blas32.Vector{N: n, Inc: 1, Data: x}, blas32.Vector{N: n, Inc: 1, Data: y[:n]})
}
