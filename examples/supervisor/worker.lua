-- A worker whose first run in slot 2 fails; every other run finishes its job.
return function(slot, attempt)
    if slot == 2 and attempt == 1 then
        error("slot 2 fails on its first run")
    end
    return `job {slot} done on attempt {attempt}`
end
