"""The users service: who the club's runners are."""
