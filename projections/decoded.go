package projections

import (
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/xapi"
)

var storedStatement = event.NewDecoder(xapi.DecodeStored)

// StoredStatement is xapi.DecodeStored of e.Data, decoded once for all the
// consumers of a record in the process (the subscriber shares it: see
// event.Shared). The statement is shared with them, concurrently: read
// it, never change it or anything it points to.
func StoredStatement(e event.Event) (*xapi.Statement, error) {
	return storedStatement.Decode(e)
}
