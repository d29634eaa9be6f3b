# The rego policy of the Policy ratify-policy (policy.useRego): a subject is
# valid when at least one of its reports succeeded and none, at any depth
# (nested reports included), failed. Ratify evaluates
# data.ratify.policy.valid over the subject's result tree.
package ratify.policy

import rego.v1

default valid := false

valid if {
	some_success
	not some_failure
}

# verdicts: every isSuccess field of the result tree, wherever it sits.
verdicts contains [path, value] if {
	walk(input, [path, value])
	count(path) > 0
	path[count(path) - 1] == "isSuccess"
}

some_success if {
	some [_, value] in verdicts
	value == true
}

some_failure if {
	some [_, value] in verdicts
	value != true
}
