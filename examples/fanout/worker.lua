-- One worker: squares its number and sends it to the parent.
return function(parent, i)
    process.send(parent, "answer", i * i)
end
