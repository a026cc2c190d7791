package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/learnstream/learnstream/domain/xapi"
)

// errorBody is the JSON body of every error response: what went wrong, and
// for bad input the field and the rule it broke.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	Rule  string `json:"rule,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// writeInputError answers 400 for invalid input, naming field and rule when
// the error carries them.
func writeInputError(w http.ResponseWriter, err error) {
	var ve *xapi.ValidationError
	if errors.As(err, &ve) {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error(), Field: ve.Field, Rule: ve.Rule})
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}
