return function(parent)
    process.send(parent, "ready")
    process.inbox():receive()
end
