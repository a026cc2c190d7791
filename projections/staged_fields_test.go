package projections

import (
	"reflect"
	"testing"

	"github.com/learnstream/learnstream/domain/xapi"
)

// sameDefinition compares ActivityDefinition field by field: a field added
// to it (or to InteractionComponent) must be compared there too, or a
// definition differing only in it would be taken as already known.
func TestSameDefinitionCoversEveryField(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		want int
	}{
		{reflect.TypeFor[xapi.ActivityDefinition](), 12},
		{reflect.TypeFor[xapi.InteractionComponent](), 2},
	} {
		if got := c.typ.NumField(); got != c.want {
			t.Errorf("%s has %d fields, sameDefinition compares %d: compare the new ones", c.typ, got, c.want)
		}
	}
}
